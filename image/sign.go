package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// Domain-separation prefixes of the measurement and the signing digest
// (spec/image.md).
const (
	measurePrefix = "confide image measurement v1\x00"
	digestPrefix  = "confide image signature v1\x00"
)

// Image is a verified image: its config, identity and signer.
type Image struct {
	// Config is the signed config (for OpenUnsigned, the given config
	// forced to Debug).
	Config Config
	// Identity is the enclave identity; UniqueID is recomputed from the
	// binary and the config.
	Identity Identity
	// BinarySize is the length of the binary before the trailer.
	BinarySize int64
	// PublicKey is the signer's key (*rsa.PublicKey or *ecdsa.PublicKey),
	// nil for an unsigned image.
	PublicKey crypto.PublicKey
	// KeyType is the signer's key type, 0 for an unsigned image.
	KeyType KeyType
}

// Measure returns the UniqueID of binary (without a trailer) under cfg:
// SHA-256 of "confide image measurement v1\x00", the binary and the 64-byte
// canonical config.
func Measure(binary []byte, cfg Config) [32]byte {
	c := cfg.canonical()
	h := sha256.New()
	h.Write([]byte(measurePrefix))
	h.Write(binary)
	h.Write(c[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func signingDigest(uniqueID [32]byte, config []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(digestPrefix))
	h.Write(uniqueID[:])
	h.Write(config)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// SignerID returns the SignerID of pub. For RSA-3072 it is SHA-256 of the
// modulus as 384 little-endian bytes (SGX MRSIGNER); for ECDSA it is
// SHA-256 of the uncompressed point 0x04‖X‖Y. Other keys are ErrKeyType.
func SignerID(pub crypto.PublicKey) ([32]byte, error) {
	kt, err := keyTypeOf(pub)
	if err != nil {
		return [32]byte{}, err
	}
	switch kt {
	case KeyRSA3072:
		k := pub.(*rsa.PublicKey)
		le := k.N.FillBytes(make([]byte, 384))
		for i, j := 0, len(le)-1; i < j; i, j = i+1, j-1 {
			le[i], le[j] = le[j], le[i]
		}
		return sha256.Sum256(le), nil
	default:
		k := pub.(*ecdsa.PublicKey)
		b, err := k.Bytes()
		if err != nil {
			return [32]byte{}, fmt.Errorf("image: encode ecdsa key: %w", ErrKeyType)
		}
		return sha256.Sum256(b), nil
	}
}

// payload returns binary without a trailer it may carry (so that signing a
// signed image replaces its trailer). A malformed trailer is an error.
func payload(binary []byte) ([]byte, error) {
	t, err := parseTrailer(binary)
	switch {
	case err == ErrUnsigned:
		return binary, nil
	case err != nil:
		return nil, err
	}
	return binary[:t.binarySize], nil
}

// Digest returns what a signer signs for binary under cfg (for two-step or
// HSM signing): SHA-256 of "confide image signature v1\x00", the UniqueID
// and the canonical config. A trailer binary already carries is ignored.
// RSA keys sign it with PKCS#1 v1.5 as a SHA-256 hash (as
// "openssl pkeyutl -sign -pkeyopt digest:sha256" does), ECDSA keys as an
// ASN.1 signature over the hash.
func Digest(binary []byte, cfg Config) ([32]byte, error) {
	if err := cfg.Validate(); err != nil {
		return [32]byte{}, err
	}
	p, err := payload(binary)
	if err != nil {
		return [32]byte{}, err
	}
	c := cfg.canonical()
	return signingDigest(Measure(p, cfg), c[:]), nil
}

// Sign signs binary under cfg with key and returns the binary followed by
// the signed trailer. A trailer binary already carries is replaced. The key
// must be RSA-3072, ECDSA P-256 or ECDSA P-384 (else ErrKeyType); its
// signature is checked before it is attached.
func Sign(binary []byte, cfg Config, key crypto.Signer) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pub := key.Public()
	if _, err := keyTypeOf(pub); err != nil {
		return nil, err
	}
	d, err := Digest(binary, cfg)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("image: sign: %w", err)
	}
	return Attach(binary, cfg, pub, sig)
}

// Attach attaches an external signature sig by pub over Digest(binary, cfg)
// and returns the signed image. The signature is verified first
// (ErrSignature); a trailer binary already carries is replaced.
func Attach(binary []byte, cfg Config, pub crypto.PublicKey, sig []byte) ([]byte, error) {
	return attach(binary, cfg, pub, sig, true)
}

// attach builds a signed image; validate=false lets tests sign configs out
// of range.
func attach(binary []byte, cfg Config, pub crypto.PublicKey, sig []byte, validate bool) ([]byte, error) {
	if validate {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	kt, err := keyTypeOf(pub)
	if err != nil {
		return nil, err
	}
	if len(sig) < 1 || len(sig) > maxSignatureSize {
		return nil, fmt.Errorf("image: signature is %d bytes: %w", len(sig), ErrSignature)
	}
	p, err := payload(binary)
	if err != nil {
		return nil, err
	}
	c := cfg.canonical()
	d := signingDigest(Measure(p, cfg), c[:])
	if err := verifySig(kt, pub, d, sig); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("image: encode public key: %w", ErrKeyType)
	}
	out := make([]byte, 0, len(p)+bodyFixedSize+len(der)+len(sig)+footerSize)
	out = append(out, p...)
	return appendTrailer(out, len(p), c[:], kt, der, sig), nil
}

func verifySig(kt KeyType, pub crypto.PublicKey, d [32]byte, sig []byte) error {
	switch kt {
	case KeyRSA3072:
		if rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig) != nil {
			return ErrSignature
		}
	default:
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig) {
			return ErrSignature
		}
	}
	return nil
}

// Open parses the trailer at the end of data, verifies its signature and
// recomputes the measurement of the binary before it. It is pure: no
// files, no clock. Errors match (errors.Is) ErrUnsigned when data has no
// trailer, ErrMalformed for a truncated or garbled trailer, bad lengths,
// unknown versions, non-zero reserved fields or trailing data,
// ErrKeyType, ErrSignature, and ErrConfig for a signed config out of range.
// The Image does not alias data.
func Open(data []byte) (*Image, error) {
	t, err := parseTrailer(data)
	if err != nil {
		return nil, err
	}
	if t.keyType < KeyRSA3072 || t.keyType > KeyECDSAP384 {
		return nil, fmt.Errorf("image: key type %d: %w", uint16(t.keyType), ErrKeyType)
	}
	pub, err := x509.ParsePKIXPublicKey(t.publicKey)
	if err != nil {
		return nil, malformed("public key: %v", err)
	}
	kt, err := keyTypeOf(pub)
	if err != nil {
		return nil, err
	}
	if kt != t.keyType {
		return nil, malformed("key type %v does not match the %v public key", t.keyType, kt)
	}
	if der, err := x509.MarshalPKIXPublicKey(pub); err != nil || !bytes.Equal(der, t.publicKey) {
		return nil, malformed("public key is not in canonical DER")
	}
	bin := data[:t.binarySize]
	// The measurement hashes the canonical bytes as stored; they are
	// decoded only after the signature over them verifies.
	h := sha256.New()
	h.Write([]byte(measurePrefix))
	h.Write(bin)
	h.Write(t.config)
	var uid [32]byte
	h.Sum(uid[:0])
	if err := verifySig(kt, pub, signingDigest(uid, t.config), t.signature); err != nil {
		return nil, err
	}
	cfg, err := parseCanonical(t.config)
	if err != nil {
		return nil, err
	}
	sid, err := SignerID(pub)
	if err != nil {
		return nil, err
	}
	return &Image{
		Config:     cfg,
		Identity:   identityOf(cfg, uid, sid),
		BinarySize: int64(t.binarySize),
		PublicKey:  pub,
		KeyType:    kt,
	}, nil
}

// OpenUnsigned returns the identity of an unsigned binary loaded for
// debugging, as Open Enclave does: the config is cfg forced to Debug and
// the SignerID is all zero. Data that carries a trailer is ErrSigned (or
// ErrMalformed for a signed image with bytes appended); cfg out of range
// is ErrConfig.
func OpenUnsigned(data []byte, cfg Config) (*Image, error) {
	cfg.Debug = true
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch _, err := parseTrailer(data); {
	case err == nil:
		return nil, ErrSigned
	case err != ErrUnsigned:
		return nil, err
	}
	return &Image{
		Config:     cfg,
		Identity:   identityOf(cfg, Measure(data, cfg), [32]byte{}),
		BinarySize: int64(len(data)),
	}, nil
}

func identityOf(cfg Config, uid, sid [32]byte) Identity {
	return Identity{
		UniqueID:          uid,
		SignerID:          sid,
		ProductID:         cfg.ProductID,
		SecurityVersion:   cfg.SecurityVersion,
		Debug:             cfg.Debug,
		ExtendedProductID: cfg.ExtendedProductID,
		FamilyID:          cfg.FamilyID,
	}
}

// keyTypeOf returns the KeyType of pub, or ErrKeyType.
func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N != nil && k.N.BitLen() == 3072 {
			return KeyRSA3072, nil
		}
		n := 0
		if k.N != nil {
			n = k.N.BitLen()
		}
		return 0, fmt.Errorf("image: rsa-%d key, want rsa-3072: %w", n, ErrKeyType)
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECDSAP256, nil
		case elliptic.P384():
			return KeyECDSAP384, nil
		}
		return 0, fmt.Errorf("image: ecdsa key on %s, want P-256 or P-384: %w", k.Curve.Params().Name, ErrKeyType)
	}
	return 0, fmt.Errorf("image: %T key: %w", pub, ErrKeyType)
}
