// Package nodekey loads and stores devp2p node keys, the identities of
// lightmarket servers and clients.
package nodekey

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/crypto"
)

// LoadOrCreate loads the hex-encoded secp256k1 key at path, creating it
// (mode 0600, parent directories 0700) on first use. An empty path returns
// a fresh key that is not stored.
func LoadOrCreate(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		return crypto.GenerateKey()
	}
	key, err := crypto.LoadECDSA(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("node key %s: %w", path, err)
	}
	if key, err = crypto.GenerateKey(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := crypto.SaveECDSA(path, key); err != nil {
		return nil, fmt.Errorf("node key %s: %w", path, err)
	}
	return key, nil
}
