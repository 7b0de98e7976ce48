package ledgerdb_test

import (
	"testing"

	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/ledgerdb/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func() (ledgerdb.Store, error) { return ledgerdb.Open(dir) }
	})
}
