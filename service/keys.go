package service

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// masterKeySize is the AES-256 master key size.
const masterKeySize = 32

// loadOrCreateFile reads path, or creates it with 0600 permissions holding
// the output of gen when it does not exist. O_EXCL makes concurrent first
// starts agree on one file.
func loadOrCreateFile(path string, gen func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("service: %w", err)
	}
	v, err := gen()
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	if _, err := f.Write(v); err != nil {
		f.Close()
		return nil, fmt.Errorf("service: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("service: %w", err)
	}
	f.Close()
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, fmt.Errorf("service: %w", err)
	}
	os.Remove(tmp)
	return v, nil
}

// loadMasterKey returns the master key in dir/master.key, creating it on
// first start.
func loadMasterKey(dir string, rnd io.Reader) ([]byte, error) {
	k, err := loadOrCreateFile(filepath.Join(dir, "master.key"), func() ([]byte, error) {
		k := make([]byte, masterKeySize)
		if _, err := io.ReadFull(rnd, k); err != nil {
			return nil, fmt.Errorf("service: master key: %w", err)
		}
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	if len(k) != masterKeySize {
		return nil, fmt.Errorf("service: master key file holds %d bytes; want %d", len(k), masterKeySize)
	}
	return k, nil
}

// loadAdminToken returns the admin bearer token in dir/admin.token, creating
// a random one on first start.
func loadAdminToken(dir string, rnd io.Reader) (string, error) {
	b, err := loadOrCreateFile(filepath.Join(dir, "admin.token"), func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := io.ReadFull(rnd, k); err != nil {
			return nil, fmt.Errorf("service: admin token: %w", err)
		}
		return []byte(base64.RawURLEncoding.EncodeToString(k)), nil
	})
	return string(b), err
}

// sealer encrypts data at rest under the master key with AES-256-GCM. The
// associated data binds each blob to the row it belongs to, so a blob
// copied to another row does not open.
type sealer struct {
	aead cipher.AEAD
	rnd  io.Reader
}

func newSealer(key []byte, rnd io.Reader) (*sealer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return &sealer{aead: g, rnd: rnd}, nil
}

// seal returns nonce || ciphertext.
func (s *sealer) seal(plaintext []byte, ad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := io.ReadFull(s.rnd, nonce); err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(ad)), nil
}

func (s *sealer) open(blob []byte, ad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(blob) < n+s.aead.Overhead() {
		return nil, errors.New("service: sealed blob too short")
	}
	p, err := s.aead.Open(nil, blob[:n], blob[n:], []byte(ad))
	if err != nil {
		return nil, errors.New("service: sealed blob does not open under the master key")
	}
	return p, nil
}

// zero overwrites b.
func zero(b []byte) {
	clear(b)
}
