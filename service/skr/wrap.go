package skr

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Wrapping algorithms, as named in the key_hsm header's "enc".
const (
	// AlgRSAAESKeyWrap is CKM_RSA_AES_KEY_WRAP: an ephemeral AES-256 key
	// encrypted with RSA-OAEP (SHA-256), followed by the key material
	// wrapped under it with AES key wrap with padding (RFC 5649).
	AlgRSAAESKeyWrap = "CKM_RSA_AES_KEY_WRAP"
	// AlgHPKEP256 is HPKE with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and
	// AES-256-GCM; the ciphertext is enc || sealed.
	AlgHPKEP256 = "HPKE-P256-SHA256-A256GCM"
	// AlgHPKEP384 is HPKE with DHKEM(P-384, HKDF-SHA384), HKDF-SHA384 and
	// AES-256-GCM.
	AlgHPKEP384 = "HPKE-P384-SHA384-A256GCM"
)

// hpkeInfo is the HPKE info string binding ciphertexts to this use.
const hpkeInfo = "confide key release v1"

// KeyHSM is the decoded key_hsm blob of a release response.
type KeyHSM struct {
	// SchemaVersion is "1.0".
	SchemaVersion string `json:"schema_version"`
	// Header names the wrapping key and algorithm.
	Header KeyHSMHeader `json:"header"`
	// Ciphertext is the wrapped material, base64url.
	Ciphertext string `json:"ciphertext"`
	// Generator names the producer.
	Generator string `json:"generator"`
}

// KeyHSMHeader is the header of a KeyHSM.
type KeyHSMHeader struct {
	// KID is the kid of the target key from the token (may be empty).
	KID string `json:"kid"`
	// Alg is "dir".
	Alg string `json:"alg"`
	// Enc is one of the Alg* constants.
	Enc string `json:"enc"`
}

// ErrTargetKey is matched when the token's encryption key is missing or
// of an unsupported type.
var ErrTargetKey = errors.New("skr: unsupported or missing target key")

// Wrap encrypts material to the public key target (RSA: CKM_RSA_AES_KEY_WRAP;
// EC P-256/P-384: HPKE) and returns the KeyHSM.
func Wrap(target crypto.PublicKey, kid string, material []byte) (*KeyHSM, error) {
	out := &KeyHSM{SchemaVersion: "1.0", Header: KeyHSMHeader{KID: kid, Alg: "dir"}, Generator: "confide"}
	var ct []byte
	switch pub := target.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits", ErrTargetKey, pub.N.BitLen())
		}
		kek := make([]byte, 32)
		if _, err := rand.Read(kek); err != nil {
			return nil, err
		}
		defer clear(kek)
		head, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, kek, nil)
		if err != nil {
			return nil, fmt.Errorf("skr: %w", err)
		}
		body, err := WrapPad(kek, material)
		if err != nil {
			return nil, err
		}
		ct = append(head, body...)
		out.Header.Enc = AlgRSAAESKeyWrap
	case *ecdsa.PublicKey:
		e, err := pub.ECDH()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTargetKey, err)
		}
		_, kdf, enc, err := suite(e.Curve())
		if err != nil {
			return nil, err
		}
		pk, err := hpke.NewDHKEMPublicKey(e)
		if err != nil {
			return nil, fmt.Errorf("skr: %w", err)
		}
		ct, err = hpke.Seal(pk, kdf, hpke.AES256GCM(), []byte(hpkeInfo), material)
		if err != nil {
			return nil, fmt.Errorf("skr: %w", err)
		}
		out.Header.Enc = enc
	default:
		return nil, fmt.Errorf("%w: %T", ErrTargetKey, target)
	}
	out.Ciphertext = base64.RawURLEncoding.EncodeToString(ct)
	return out, nil
}

func suite(c ecdh.Curve) (hpke.KEM, hpke.KDF, string, error) {
	switch c {
	case ecdh.P256():
		return hpke.DHKEM(c), hpke.HKDFSHA256(), AlgHPKEP256, nil
	case ecdh.P384():
		return hpke.DHKEM(c), hpke.HKDFSHA384(), AlgHPKEP384, nil
	}
	return nil, nil, "", fmt.Errorf("%w: curve %v", ErrTargetKey, c)
}

// Unwrap decrypts k with the private key matching the target key
// (*rsa.PrivateKey or *ecdsa.PrivateKey).
func Unwrap(k *KeyHSM, priv crypto.PrivateKey) ([]byte, error) {
	ct, err := base64.RawURLEncoding.DecodeString(k.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext: %v", ErrUnwrap, err)
	}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if k.Header.Enc != AlgRSAAESKeyWrap {
			return nil, fmt.Errorf("%w: enc %q with an RSA key", ErrUnwrap, k.Header.Enc)
		}
		n := p.Size()
		if len(ct) < n+16 {
			return nil, fmt.Errorf("%w: ciphertext too short", ErrUnwrap)
		}
		kek, err := rsa.DecryptOAEP(sha256.New(), nil, p, ct[:n], nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
		}
		defer clear(kek)
		return UnwrapPad(kek, ct[n:])
	case *ecdsa.PrivateKey:
		e, err := p.ECDH()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
		}
		_, kdf, enc, err := suite(e.Curve())
		if err != nil {
			return nil, err
		}
		if k.Header.Enc != enc {
			return nil, fmt.Errorf("%w: enc %q; want %q", ErrUnwrap, k.Header.Enc, enc)
		}
		sk, err := hpke.NewDHKEMPrivateKey(e)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
		}
		pt, err := hpke.Open(sk, kdf, hpke.AES256GCM(), []byte(hpkeInfo), ct)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w: private key type %T", ErrUnwrap, priv)
}

// ParseKeyHSM decodes a base64url key_hsm value.
func ParseKeyHSM(s string) (*KeyHSM, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: key_hsm: %v", ErrUnwrap, err)
	}
	var k KeyHSM
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%w: key_hsm: %v", ErrUnwrap, err)
	}
	return &k, nil
}

// Encode returns k as the base64url key_hsm value.
func (k *KeyHSM) Encode() string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}
