package dataset

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by a Store's Get for a name it does not hold.
var ErrNotFound = errors.New("dataset: object not found")

// ErrName reports an object name a Store refuses.
var ErrName = errors.New("dataset: invalid object name")

// Store is untrusted storage for published ciphertext. Put must be atomic:
// a reader sees either the old object or the complete new one.
type Store interface {
	// Put stores everything read from r under name.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens the object stored under name, or returns ErrNotFound.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
}

// Digest is the SHA-256 of a published ciphertext, as recorded in the contract.
type Digest [sha256.Size]byte

// DirStore is a Store backed by one directory. Names are single path
// elements of letters, digits, '.', '-' and '_' (not starting with '.').
type DirStore struct {
	// Dir is the directory holding the objects; it must exist.
	Dir string
}

// ValidName reports whether name is acceptable to DirStore.
func ValidName(name string) bool {
	if name == "" || len(name) > 200 || name[0] == '.' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_", c)) {
			return false
		}
	}
	return true
}

// Put writes r to a temporary file in the directory, syncs it, and renames
// it over name.
func (s DirStore) Put(ctx context.Context, name string, r io.Reader) (err error) {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("dataset: put %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("dataset: put %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("dataset: put %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("dataset: put %s: %w", name, err)
	}
	if err = os.Rename(f.Name(), filepath.Join(s.Dir, name)); err != nil {
		return fmt.Errorf("dataset: put %s: %w", name, err)
	}
	return nil
}

// Get opens the named object.
func (s DirStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrName, name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: get %s: %w", name, err)
	}
	return f, nil
}

// Publish encrypts the plaintext read from r under key and stores the
// ciphertext as name, returning the ciphertext's SHA-256 digest for the
// contract. The ciphertext streams through a pipe; nothing is buffered whole.
func Publish(ctx context.Context, s Store, name string, r io.Reader, key []byte, meta Meta) (Digest, error) {
	pr, pw := io.Pipe()
	h := sha256.New()
	go func() {
		_, err := Encrypt(io.MultiWriter(pw, h), r, key, meta)
		pw.CloseWithError(err)
	}()
	err := s.Put(ctx, name, pr)
	pr.CloseWithError(errors.New("dataset: publish aborted"))
	var d Digest
	if err != nil {
		return d, err
	}
	h.Sum(d[:0])
	return d, nil
}

// ErrDigest reports fetched ciphertext whose digest differs from the one
// recorded in the contract.
var ErrDigest = errors.New("dataset: ciphertext digest does not match the contract")

// Fetch reads name from s, checks its SHA-256 against want, and decrypts it
// to w. The ciphertext is hashed as it is decrypted; on any error the
// plaintext written to w must be discarded.
func Fetch(ctx context.Context, s Store, name string, want Digest, w io.Writer, key []byte) (*Meta, error) {
	rc, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := sha256.New()
	meta, err := Decrypt(w, io.TeeReader(rc, h), key)
	if err != nil {
		return nil, err
	}
	// Decrypt stops at the final chunk and has checked nothing follows, so h
	// covers the whole object.
	var got Digest
	h.Sum(got[:0])
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return nil, ErrDigest
	}
	return meta, nil
}
