package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
)

// AlgorithmRSAOAEP is the only key encryption algorithm SQL Server allows
// for column encryption keys: RSA-OAEP with SHA-1 and MGF1-SHA-1.
const AlgorithmRSAOAEP = "RSA_OAEP"

// CEKSize is the size of an AEAD_AES_256_CBC_HMAC_SHA256 column encryption
// key, the kind NewCEK generates.
const CEKSize = 32

// MinRSABits is the smallest RSA column master key the stores accept.
const MinRSABits = 2048

// KeyStore is a column master key store provider: it wraps and unwraps
// column encryption keys under the CMK named by keyPath and signs CMK
// metadata for enclave computations.
type KeyStore interface {
	// WrapKey encrypts cek under the CMK at keyPath and returns the
	// encrypted CEK value. algorithm must be RSA_OAEP (any case).
	WrapKey(ctx context.Context, keyPath, algorithm string, cek []byte) ([]byte, error)
	// UnwrapKey verifies and decrypts an encrypted CEK value.
	UnwrapKey(ctx context.Context, keyPath, algorithm string, encrypted []byte) ([]byte, error)
	// SignCMKMetadata signs the CMK metadata (this store's provider
	// name, keyPath and allowEnclave).
	SignCMKMetadata(ctx context.Context, keyPath string, allowEnclave bool) ([]byte, error)
	// VerifyCMKMetadata checks a signature made by SignCMKMetadata and
	// returns an error wrapping ErrSignature when it does not verify.
	VerifyCMKMetadata(ctx context.Context, keyPath string, allowEnclave bool, signature []byte) error
}

// CMKMetadataHash returns the SHA-256 hash that CMK metadata signatures
// cover: the UTF-16LE encoding of lowercase(provider ‖ keyPath ‖ "true" or
// "false"). Lowercasing uses Unicode simple case mapping, which matches
// .NET's ToLowerInvariant for the ASCII paths SQL Server tools produce.
func CMKMetadataHash(provider, keyPath string, allowEnclave bool) [sha256.Size]byte {
	flag := "False"
	if allowEnclave {
		flag = "True"
	}
	return sha256.Sum256(encodeUTF16(strings.ToLower(provider + keyPath + flag)))
}

func checkAlgorithm(algorithm string) error {
	if !strings.EqualFold(algorithm, AlgorithmRSAOAEP) {
		return fmt.Errorf("%w: %q (want %s)", ErrAlgorithm, algorithm, AlgorithmRSAOAEP)
	}
	return nil
}

func checkRSA(priv *rsa.PrivateKey) error {
	if bits := priv.N.BitLen(); bits < MinRSABits || bits > 8*maxRSABytes {
		return fmt.Errorf("%w: %d-bit rsa key (want %d to %d bits)", ErrKey, bits, MinRSABits, 8*maxRSABytes)
	}
	return nil
}

// wrapRSA builds an encrypted CEK value under priv: RSA-OAEP-SHA1
// encryption of cek and a PKCS#1 v1.5 SHA-256 signature, as SqlClient's
// certificate store provider does.
func wrapRSA(r io.Reader, priv *rsa.PrivateKey, keyPath string, cek []byte) ([]byte, error) {
	if err := checkRSA(priv); err != nil {
		return nil, err
	}
	if len(cek) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCEK)
	}
	ct, err := rsa.EncryptOAEP(sha1.New(), r, &priv.PublicKey, cek, nil)
	if err != nil {
		return nil, fmt.Errorf("keystore: rsa-oaep: %w", err)
	}
	e := &EncryptedCEK{KeyPath: keyPath, Ciphertext: ct}
	signed, err := e.SignedBytes()
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(signed)
	sig, err := rsa.SignPKCS1v15(r, priv, crypto.SHA256, h[:])
	if err != nil {
		return nil, fmt.Errorf("keystore: sign: %w", err)
	}
	return append(signed, sig...), nil
}

// unwrapRSA verifies and decrypts an encrypted CEK value under priv.
func unwrapRSA(priv *rsa.PrivateKey, encrypted []byte) ([]byte, error) {
	if err := checkRSA(priv); err != nil {
		return nil, err
	}
	e, err := ParseEncryptedCEK(encrypted)
	if err != nil {
		return nil, err
	}
	if n := priv.Size(); len(e.Ciphertext) != n {
		return nil, fmt.Errorf("%w: ciphertext is %d bytes, the key's modulus %d", ErrKey, len(e.Ciphertext), n)
	}
	// The signed bytes are exactly the input without its signature.
	h := sha256.Sum256(encrypted[:len(encrypted)-len(e.Signature)])
	if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, h[:], e.Signature); err != nil {
		return nil, ErrSignature
	}
	cek, err := rsa.DecryptOAEP(sha1.New(), nil, priv, e.Ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: rsa-oaep decryption failed", ErrCEK)
	}
	return cek, nil
}

func signMetadata(r io.Reader, priv *rsa.PrivateKey, provider, keyPath string, allowEnclave bool) ([]byte, error) {
	if err := checkRSA(priv); err != nil {
		return nil, err
	}
	h := CMKMetadataHash(provider, keyPath, allowEnclave)
	return rsa.SignPKCS1v15(r, priv, crypto.SHA256, h[:])
}

// VerifyCMKMetadataSignature checks a CMK metadata signature with the CMK's
// public key. Clients that hold only the public key (or a certificate)
// use it to check the signature recorded in CREATE COLUMN MASTER KEY.
func VerifyCMKMetadataSignature(pub *rsa.PublicKey, provider, keyPath string, allowEnclave bool, signature []byte) error {
	h := CMKMetadataHash(provider, keyPath, allowEnclave)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], signature); err != nil {
		return ErrSignature
	}
	return nil
}

// Rewrap moves a CEK from one CMK to another (CMK rotation): it unwraps
// encrypted with from at fromPath and wraps the same CEK with to at toPath.
// The plaintext CEK is zeroed before Rewrap returns.
func Rewrap(ctx context.Context, from KeyStore, fromPath string, to KeyStore, toPath string, encrypted []byte) ([]byte, error) {
	cek, err := from.UnwrapKey(ctx, fromPath, AlgorithmRSAOAEP, encrypted)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	return to.WrapKey(ctx, toPath, AlgorithmRSAOAEP, cek)
}

// NewCEK generates a new 32-byte column encryption key (a new CEK version,
// for CEK rotation) from r (nil means crypto/rand) and returns it wrapped
// under the CMK at keyPath. The plaintext is zeroed before NewCEK returns;
// unwrap the value when the key is needed.
func NewCEK(ctx context.Context, store KeyStore, keyPath string, r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	cek := make([]byte, CEKSize)
	defer clear(cek)
	if _, err := io.ReadFull(r, cek); err != nil {
		return nil, fmt.Errorf("keystore: generating cek: %w", err)
	}
	return store.WrapKey(ctx, keyPath, AlgorithmRSAOAEP, cek)
}
