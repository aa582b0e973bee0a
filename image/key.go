package image

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyType is the type of an image signing key, as recorded in the trailer.
type KeyType uint16

// Accepted signing key types.
const (
	KeyRSA3072   KeyType = 1 // RSA-3072, any public exponent; PKCS#1 v1.5 signatures
	KeyECDSAP256 KeyType = 2 // ECDSA P-256; ASN.1 signatures
	KeyECDSAP384 KeyType = 3 // ECDSA P-384; ASN.1 signatures
)

// String returns "rsa3072", "p256" or "p384".
func (k KeyType) String() string {
	switch k {
	case KeyRSA3072:
		return "rsa3072"
	case KeyECDSAP256:
		return "p256"
	case KeyECDSAP384:
		return "p384"
	}
	return fmt.Sprintf("KeyType(%d)", uint16(k))
}

// ParseKeyType parses "rsa3072", "p256" or "p384" (ErrKeyType otherwise).
func ParseKeyType(s string) (KeyType, error) {
	for _, k := range []KeyType{KeyRSA3072, KeyECDSAP256, KeyECDSAP384} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("image: key type %q, want rsa3072, p256 or p384: %w", s, ErrKeyType)
}

// GenerateKey returns a new signing key of type kt from crypto/rand. RSA
// keys have public exponent 65537.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("image: key type %d: %w", uint16(kt), ErrKeyType)
}

// MarshalPrivateKeyPEM encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if _, err := keyTypeOf(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("image: encode private key: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as a "PUBLIC KEY" (SubjectPublicKeyInfo)
// PEM block.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	if _, err := keyTypeOf(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("image: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ErrKeyFormat reports key PEM that cannot be read.
var ErrKeyFormat = errors.New("image: unreadable key")

// ParsePrivateKeyPEM reads a signing key from PEM: PKCS#1 ("RSA PRIVATE
// KEY"), PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY", an "EC
// PARAMETERS" block before it is skipped). Encrypted PEM, other blocks,
// data after the key block and unreadable keys are ErrKeyFormat; keys of
// other types are ErrKeyType.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block != nil && block.Type == "EC PARAMETERS" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, fmt.Errorf("image: no PEM private key: %w", ErrKeyFormat)
	}
	defer clear(block.Bytes)
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("image: PEM headers (encrypted key?) not supported: %w", ErrKeyFormat)
	}
	if len(bytesTrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("image: data after the private key: %w", ErrKeyFormat)
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("image: PEM block %q is not a private key: %w", block.Type, ErrKeyFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("image: %s: %v: %w", block.Type, err, ErrKeyFormat)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("image: %T key: %w", key, ErrKeyType)
	}
	if _, err := keyTypeOf(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// ParsePublicKeyPEM reads a public key from PEM: SubjectPublicKeyInfo
// ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY"). Other blocks, data after the
// key and unreadable keys are ErrKeyFormat; keys of other types ErrKeyType.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("image: no PEM public key: %w", ErrKeyFormat)
	}
	if len(bytesTrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("image: data after the public key: %w", ErrKeyFormat)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("image: PEM block %q is not a public key: %w", block.Type, ErrKeyFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("image: %s: %v: %w", block.Type, err, ErrKeyFormat)
	}
	if _, err := keyTypeOf(key); err != nil {
		return nil, err
	}
	return key, nil
}

func bytesTrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
