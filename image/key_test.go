package image

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

func TestKeyPEMRoundTrip(t *testing.T) {
	for _, kt := range testKeyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			key := testKeys()[kt]
			p, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(p); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("MarshalPrivateKeyPEM() block = %v; want PRIVATE KEY", b)
			}
			back, err := ParsePrivateKeyPEM(p)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM(MarshalPrivateKeyPEM()) error = %v", err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Errorf("private key round trip changed the key")
			}
			pp, err := MarshalPublicKeyPEM(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKeyPEM(pp)
			if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Errorf("ParsePublicKeyPEM(MarshalPublicKeyPEM()) = %v, %v", pub, err)
			}
		})
	}
}

func TestParseKeyPEMErrors(t *testing.T) {
	rsaKey := testKeys()[KeyRSA3072].(*rsa.PrivateKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalECPrivateKey(p224)
	p224Pub, _ := x509.MarshalPKIXPublicKey(p224.Public())
	tests := []struct {
		name string
		in   []byte
		pub  bool
		want error
	}{
		{"empty", nil, false, ErrKeyFormat},
		{"not pem", []byte("hello"), false, ErrKeyFormat},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), false, ErrKeyFormat},
		{"garbled pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30, 0}}), false, ErrKeyFormat},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}}), false, ErrKeyFormat},
		{"trailing data", append(append([]byte(nil), pkcs1...), "junk"...), false, ErrKeyFormat},
		{"ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), false, ErrKeyType},
		{"p224 sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p224DER}), false, ErrKeyType},
		{"public as private", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p224Pub}), false, ErrKeyFormat},
		{"p224 public", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p224Pub}), true, ErrKeyType},
		{"private as public", pkcs1, true, ErrKeyFormat},
		{"garbled public", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 1, 0}}), true, ErrKeyFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.pub {
				_, err = ParsePublicKeyPEM(tt.in)
			} else {
				_, err = ParsePrivateKeyPEM(tt.in)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("parse %s error = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestParseKeyType(t *testing.T) {
	for _, kt := range testKeyTypes {
		if got, err := ParseKeyType(kt.String()); err != nil || got != kt {
			t.Errorf("ParseKeyType(%q) = %v, %v; want %v", kt.String(), got, err, kt)
		}
	}
	for _, s := range []string{"", "rsa", "rsa2048", "ed25519", "P256"} {
		if _, err := ParseKeyType(s); !errors.Is(err, ErrKeyType) {
			t.Errorf("ParseKeyType(%q) error = %v; want ErrKeyType", s, err)
		}
	}
	if _, err := GenerateKey(7); !errors.Is(err, ErrKeyType) {
		t.Errorf("GenerateKey(7) error = %v; want ErrKeyType", err)
	}
}

// FuzzParsePrivateKeyPEM is seeded with keys in each accepted encoding.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, kt := range testKeyTypes {
		p, err := MarshalPrivateKeyPEM(testKeys()[kt])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKeys()[KeyRSA3072].(*rsa.PrivateKey))}))
	sec1, _ := x509.MarshalECPrivateKey(testKeys()[KeyECDSAP256].(*ecdsa.PrivateKey))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		key, err := ParsePrivateKeyPEM(in)
		if err != nil {
			if !errors.Is(err, ErrKeyFormat) && !errors.Is(err, ErrKeyType) {
				t.Fatalf("ParsePrivateKeyPEM error %v matches no sentinel", err)
			}
			return
		}
		if _, err := SignerID(key.Public()); err != nil {
			t.Fatalf("ParsePrivateKeyPEM accepted a key SignerID refuses: %v", err)
		}
	})
}

// FuzzParsePublicKeyPEM is seeded with public keys of each accepted type.
func FuzzParsePublicKeyPEM(f *testing.F) {
	for _, kt := range testKeyTypes {
		p, err := MarshalPublicKeyPEM(testKeys()[kt].Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(testKeys()[KeyRSA3072].Public().(*rsa.PublicKey))}))
	f.Fuzz(func(t *testing.T, in []byte) {
		pub, err := ParsePublicKeyPEM(in)
		if err != nil {
			if !errors.Is(err, ErrKeyFormat) && !errors.Is(err, ErrKeyType) {
				t.Fatalf("ParsePublicKeyPEM error %v matches no sentinel", err)
			}
			return
		}
		if _, err := SignerID(pub); err != nil {
			t.Fatalf("ParsePublicKeyPEM accepted a key SignerID refuses: %v", err)
		}
	})
}
