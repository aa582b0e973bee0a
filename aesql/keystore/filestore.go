package keystore

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"

	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// FileStoreProvider is the key store provider name of FileStore, as it
// appears in KEY_STORE_PROVIDER_NAME. SQL Server reserves the MSSQL_ prefix
// for its own providers.
const FileStoreProvider = "CONFIDE_KEY_FILE"

// maxKeyFileSize bounds key files read by FileStore.
const maxKeyFileSize = 64 << 10

// FileStore is a KeyStore whose column master keys are RSA private keys
// (2048 bits or more) in PEM files under one directory. A key path is the
// slash-separated path of a file relative to that directory, such as
// "cmk/2026.pem"; paths that are absolute or leave the directory are
// rejected. Files hold one PEM block, "RSA PRIVATE KEY" (PKCS #1) or
// "PRIVATE KEY" (PKCS #8).
//
// Randomness for RSA-OAEP and signatures comes from crypto/rand.
type FileStore struct {
	dir string
}

// NewFileStore returns a store for the keys under dir. Keys are read from
// disk on each operation, so replacing a file takes effect at once.
func NewFileStore(dir string) *FileStore {
	return &FileStore{dir: dir}
}

var _ KeyStore = (*FileStore)(nil)

// KeyPathError reports a key path FileStore cannot use. It wraps ErrKeyPath
// or, for a file that is not a usable key, ErrKey.
type KeyPathError struct {
	KeyPath string
	Err     error
}

// Error implements error.
func (e *KeyPathError) Error() string {
	return fmt.Sprintf("keystore: key path %q: %v", e.KeyPath, e.Err)
}

// Unwrap returns the cause.
func (e *KeyPathError) Unwrap() error { return e.Err }

func (s *FileStore) load(keyPath string) (*rsa.PrivateKey, error) {
	if keyPath == "" || strings.ContainsRune(keyPath, '\\') || !fs.ValidPath(keyPath) || path.Clean(keyPath) != keyPath {
		return nil, &KeyPathError{KeyPath: keyPath, Err: ErrKeyPath}
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, &KeyPathError{KeyPath: keyPath, Err: fmt.Errorf("%w: %v", ErrKeyPath, err)}
	}
	defer root.Close()
	f, err := root.Open(keyPath)
	if err != nil {
		return nil, &KeyPathError{KeyPath: keyPath, Err: fmt.Errorf("%w: %v", ErrKeyPath, err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, &KeyPathError{KeyPath: keyPath, Err: fmt.Errorf("%w: %v", ErrKeyPath, err)}
	}
	defer clear(data)
	if len(data) > maxKeyFileSize {
		return nil, &KeyPathError{KeyPath: keyPath, Err: fmt.Errorf("%w: key file larger than %d bytes", ErrKey, maxKeyFileSize)}
	}
	priv, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, &KeyPathError{KeyPath: keyPath, Err: err}
	}
	return priv, nil
}

// ParsePrivateKeyPEM parses an RSA private key of at least MinRSABits
// from exactly one PEM block ("RSA PRIVATE KEY" or "PRIVATE KEY"), with
// nothing but white space around it.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no pem block", ErrKey)
	}
	defer clear(block.Bytes)
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: data after the pem block", ErrKey)
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		priv = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not an rsa key", ErrKey, k)
		}
		priv = rk
	default:
		return nil, fmt.Errorf("%w: pem block %q", ErrKey, block.Type)
	}
	if err := checkRSA(priv); err != nil {
		return nil, err
	}
	return priv, nil
}

// GenerateKeyPEM generates an RSA private key of the given size (at least
// MinRSABits) and returns it as a PKCS #8 PEM block suitable for a
// FileStore key file.
func GenerateKeyPEM(bits int) ([]byte, error) {
	if bits < MinRSABits || bits > 8*maxRSABytes {
		return nil, fmt.Errorf("%w: %d bits", ErrKey, bits)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicKey returns the public half of the CMK at keyPath.
func (s *FileStore) PublicKey(keyPath string) (*rsa.PublicKey, error) {
	priv, err := s.load(keyPath)
	if err != nil {
		return nil, err
	}
	return &priv.PublicKey, nil
}

// WrapKey implements KeyStore.
func (s *FileStore) WrapKey(ctx context.Context, keyPath, algorithm string, cek []byte) ([]byte, error) {
	if err := checkAlgorithm(algorithm); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	priv, err := s.load(keyPath)
	if err != nil {
		return nil, err
	}
	return wrapRSA(rand.Reader, priv, keyPath, cek)
}

// UnwrapKey implements KeyStore.
func (s *FileStore) UnwrapKey(ctx context.Context, keyPath, algorithm string, encrypted []byte) ([]byte, error) {
	if err := checkAlgorithm(algorithm); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	priv, err := s.load(keyPath)
	if err != nil {
		return nil, err
	}
	return unwrapRSA(priv, encrypted)
}

// SignCMKMetadata implements KeyStore.
func (s *FileStore) SignCMKMetadata(ctx context.Context, keyPath string, allowEnclave bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	priv, err := s.load(keyPath)
	if err != nil {
		return nil, err
	}
	return signMetadata(rand.Reader, priv, FileStoreProvider, keyPath, allowEnclave)
}

// VerifyCMKMetadata implements KeyStore.
func (s *FileStore) VerifyCMKMetadata(ctx context.Context, keyPath string, allowEnclave bool, signature []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	priv, err := s.load(keyPath)
	if err != nil {
		return err
	}
	return VerifyCMKMetadataSignature(&priv.PublicKey, FileStoreProvider, keyPath, allowEnclave, signature)
}
