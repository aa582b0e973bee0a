package skr

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
)

func TestWrapUnwrap(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	secret := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		priv    crypto.PrivateKey
		wantEnc string
	}{
		{"rsa", &rsaKey.PublicKey, rsaKey, AlgRSAAESKeyWrap},
		{"p256", &p256.PublicKey, p256, AlgHPKEP256},
		{"p384", &p384.PublicKey, p384, AlgHPKEP384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Wrap(tc.pub, "kid", secret)
			if err != nil {
				t.Fatal(err)
			}
			if k.Header.Enc != tc.wantEnc {
				t.Errorf("Wrap().Header.Enc = %q; want %q", k.Header.Enc, tc.wantEnc)
			}
			k2, err := ParseKeyHSM(k.Encode())
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unwrap(k2, tc.priv)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("Unwrap() = %x, %v; want %x", got, err, secret)
			}
			if _, err := Unwrap(k2, other); !errors.Is(err, ErrUnwrap) {
				t.Errorf("Unwrap(wrong key) = %v; want ErrUnwrap", err)
			}
			// RSA-OAEP of the ephemeral key: the RSA modulus-sized head is
			// followed by an RFC 5649 body of 8 + ceil(len/8)*8 bytes.
			if tc.name == "rsa" {
				ct, _ := ParseKeyHSM(k.Encode())
				raw := mustB64(t, ct.Ciphertext)
				if want := 256 + 8 + 32; len(raw) != want {
					t.Errorf("len(ciphertext) = %d; want %d", len(raw), want)
				}
			}
		})
	}
}

func TestWrapRejectsSmallRSA(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := Wrap(&k.PublicKey, "", []byte("x")); !errors.Is(err, ErrTargetKey) {
		t.Errorf("Wrap(rsa1024) = %v; want ErrTargetKey", err)
	}
}
