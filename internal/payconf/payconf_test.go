package payconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
)

func TestKeyfileMessages(t *testing.T) {
	dir := t.TempDir()
	k, _ := crypto.GenerateKey()
	blob, err := keystore.EncryptKey(&keystore.Key{Id: uuid.New(), Address: crypto.PubkeyToAddress(k.PublicKey), PrivateKey: k}, "secret", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	keyfile, right, wrong := filepath.Join(dir, "key.json"), filepath.Join(dir, "pw"), filepath.Join(dir, "bad")
	os.WriteFile(keyfile, blob, 0o600)
	os.WriteFile(right, []byte("secret\n"), 0o600)
	os.WriteFile(wrong, []byte("nope\n"), 0o600)
	for _, tc := range []struct {
		password string
		want     string
	}{
		{"", "give its password in a file with --payment.password"},
		{wrong, "does not decrypt it"},
		{right, ""},
	} {
		got, err := Config{KeyFile: keyfile, PasswordFile: tc.password}.LoadKey()
		switch {
		case tc.want == "" && (err != nil || got == nil || !got.Equal(k)):
			t.Errorf("password %q: %v", tc.password, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("password %q: %v, want an error saying %q", tc.password, err, tc.want)
		}
	}
}
