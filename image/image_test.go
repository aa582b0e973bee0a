package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
)

// Keys are slow to make (RSA-3072), so tests share one of each type.
var testKeys = sync.OnceValue(func() map[KeyType]crypto.Signer {
	m := make(map[KeyType]crypto.Signer)
	for _, kt := range []KeyType{KeyRSA3072, KeyECDSAP256, KeyECDSAP384} {
		k, err := GenerateKey(kt)
		if err != nil {
			panic(err)
		}
		m[kt] = k
	}
	return m
})

var testKeyTypes = []KeyType{KeyRSA3072, KeyECDSAP256, KeyECDSAP384}

// testBinary stands in for an enclave binary: an ELF-looking header and
// some pseudo-random content.
func testBinary(n int) []byte {
	b := make([]byte, n)
	copy(b, "\x7fELF\x02\x01\x01")
	for i := 8; i < n; i++ {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func testConfig() Config {
	c := DefaultConfig()
	c.ProductID, c.SecurityVersion, c.NumTCS = 7, 3, 2
	c.FamilyID[0] = 0xfa
	c.ExtendedProductID[15] = 0xe1
	return c
}

func TestSignOpen(t *testing.T) {
	bin := testBinary(10000)
	cfg := testConfig()
	for _, kt := range testKeyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			key := testKeys()[kt]
			signed, err := Sign(bin, cfg, key)
			if err != nil {
				t.Fatalf("Sign() error = %v", err)
			}
			if !bytes.Equal(signed[:len(bin)], bin) {
				t.Fatalf("Sign() changed the binary")
			}
			img, err := Open(signed)
			if err != nil {
				t.Fatalf("Open(Sign()) error = %v", err)
			}
			// Independent measurement: the spec's formula, written out.
			c := cfg.canonical()
			wantUID := sha256.Sum256(append(append([]byte("confide image measurement v1\x00"), bin...), c[:]...))
			wantSID, _ := SignerID(key.Public())
			want := Identity{UniqueID: wantUID, SignerID: wantSID, ProductID: 7, SecurityVersion: 3,
				ExtendedProductID: cfg.ExtendedProductID, FamilyID: cfg.FamilyID}
			if img.Identity != want {
				t.Errorf("Open().Identity = %+v; want %+v", img.Identity, want)
			}
			if img.Config != cfg || img.BinarySize != int64(len(bin)) || img.KeyType != kt {
				t.Errorf("Open() = config %+v size %d type %v; want %+v %d %v", img.Config, img.BinarySize, img.KeyType, cfg, len(bin), kt)
			}
			if Measure(bin, cfg) != wantUID {
				t.Errorf("Measure() = %x; want %x", Measure(bin, cfg), wantUID)
			}
			if !img.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Errorf("Open().PublicKey differs from the signing key")
			}
			// The trailer length is as the spec's layout says.
			der, _ := x509.MarshalPKIXPublicKey(key.Public())
			tl := len(signed) - len(bin)
			if sl := tl - 72 - len(der) - 24; sl < 1 || (kt == KeyRSA3072 && sl != 384) {
				t.Errorf("signature length %d from trailer length %d", sl, tl)
			}
		})
	}
}

// TestSignerIDRSA checks SignerID against the SGX definition computed
// another way: the modulus as little-endian bytes from its words.
func TestSignerIDRSA(t *testing.T) {
	k := testKeys()[KeyRSA3072].Public().(*rsa.PublicKey)
	le := make([]byte, 384)
	n := new(big.Int).Set(k.N)
	mask := big.NewInt(0xff)
	for i := range le {
		le[i] = byte(new(big.Int).And(n, mask).Uint64())
		n.Rsh(n, 8)
	}
	want := sha256.Sum256(le)
	got, err := SignerID(k)
	if err != nil || got != want {
		t.Errorf("SignerID(rsa) = %x, %v; want %x", got, err, want)
	}
}

func TestSignerIDECDSA(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyECDSAP384} {
		t.Run(kt.String(), func(t *testing.T) {
			k := testKeys()[kt].Public().(*ecdsa.PublicKey)
			size := (k.Curve.Params().BitSize + 7) / 8
			pt := []byte{4}
			pt = append(pt, k.X.FillBytes(make([]byte, size))...)
			pt = append(pt, k.Y.FillBytes(make([]byte, size))...)
			want := sha256.Sum256(pt)
			got, err := SignerID(k)
			if err != nil || got != want {
				t.Errorf("SignerID(%v) = %x, %v; want %x", kt, got, err, want)
			}
		})
	}
}

func TestKeyTypes(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
	}{
		{"rsa2048", rsa2048},
		{"p224", p224},
		{"ed25519", ed},
	}
	bin := testBinary(100)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Sign(bin, DefaultConfig(), tt.key); !errors.Is(err, ErrKeyType) {
				t.Errorf("Sign(%s) error = %v; want ErrKeyType", tt.name, err)
			}
			if _, err := SignerID(tt.key.Public()); !errors.Is(err, ErrKeyType) {
				t.Errorf("SignerID(%s) error = %v; want ErrKeyType", tt.name, err)
			}
			if _, err := Attach(bin, DefaultConfig(), tt.key.Public(), []byte{1}); !errors.Is(err, ErrKeyType) {
				t.Errorf("Attach(%s) error = %v; want ErrKeyType", tt.name, err)
			}
			if _, err := MarshalPrivateKeyPEM(tt.key); !errors.Is(err, ErrKeyType) {
				t.Errorf("MarshalPrivateKeyPEM(%s) error = %v; want ErrKeyType", tt.name, err)
			}
		})
	}
	// A trailer that declares RSA-3072 but carries an RSA-2048 key with a
	// valid signature, and a trailer with an unknown key type code.
	t.Run("rsa2048 in trailer", func(t *testing.T) {
		signed := rawSigned(t, bin, DefaultConfig(), rsa2048, KeyRSA3072)
		if _, err := Open(signed); !errors.Is(err, ErrKeyType) {
			t.Errorf("Open(rsa-2048 trailer) error = %v; want ErrKeyType", err)
		}
	})
	t.Run("unknown code", func(t *testing.T) {
		signed := rawSigned(t, bin, DefaultConfig(), testKeys()[KeyECDSAP256], 9)
		if _, err := Open(signed); !errors.Is(err, ErrKeyType) {
			t.Errorf("Open(key type 9) error = %v; want ErrKeyType", err)
		}
	})
	t.Run("code mismatch", func(t *testing.T) {
		signed := rawSigned(t, bin, DefaultConfig(), testKeys()[KeyECDSAP256], KeyECDSAP384)
		if _, err := Open(signed); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(p256 key declared p384) error = %v; want ErrMalformed", err)
		}
	})
}

// rawSigned builds a signed image without the checks of Sign, so that
// tests can make trailers Sign refuses to make.
func rawSigned(t *testing.T, bin []byte, cfg Config, key crypto.Signer, kt KeyType) []byte {
	t.Helper()
	c := cfg.canonical()
	d := signingDigest(Measure(bin, cfg), c[:])
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return appendTrailer(append([]byte(nil), bin...), len(bin), c[:], kt, der, sig)
}

func TestOpenErrors(t *testing.T) {
	bin := testBinary(3000)
	cfg := testConfig()
	key := testKeys()[KeyECDSAP256]
	signed, err := Sign(bin, cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	tl := len(signed) - len(bin)
	le := binary.LittleEndian
	footer := len(signed) - 24
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(signed)) }
	badTCS := cfg
	badTCS.NumTCS = 0
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnsigned},
		{"unsigned", bin, ErrUnsigned},
		{"magic only", []byte("CNFDSIGN"), ErrUnsigned},
		{"trailing junk", append(bytes.Clone(signed), 0), ErrMalformed},
		{"trailing junk long", append(bytes.Clone(signed), testBinary(5000)...), ErrMalformed},
		{"trailing magic", append(bytes.Clone(signed), "CNFDSIGN"...), ErrMalformed},
		{"version 2", mod(func(b []byte) []byte { le.PutUint16(b[footer+12:], 2); return b }), ErrMalformed},
		{"version 0", mod(func(b []byte) []byte { le.PutUint16(b[footer+12:], 0); return b }), ErrMalformed},
		{"footer reserved", mod(func(b []byte) []byte { b[footer+15] = 1; return b }), ErrMalformed},
		{"body reserved", mod(func(b []byte) []byte { b[len(bin)+66] = 1; return b }), ErrMalformed},
		{"trailer length short", mod(func(b []byte) []byte { le.PutUint32(b[footer+8:], uint32(tl-1)); return b }), ErrMalformed},
		{"trailer length long", mod(func(b []byte) []byte { le.PutUint32(b[footer+8:], uint32(tl+1)); return b }), ErrMalformed},
		{"trailer length huge", mod(func(b []byte) []byte { le.PutUint32(b[footer+8:], 0xffffffff); return b }), ErrMalformed},
		{"trailer length tiny", mod(func(b []byte) []byte { le.PutUint32(b[footer+8:], 24); return b }), ErrMalformed},
		{"binary size", mod(func(b []byte) []byte { le.PutUint64(b[footer:], uint64(len(bin)+1)); return b }), ErrMalformed},
		{"binary size huge", mod(func(b []byte) []byte { le.PutUint64(b[footer:], 1<<63); return b }), ErrMalformed},
		{"public key length 0", mod(func(b []byte) []byte { le.PutUint16(b[len(bin)+68:], 0); return b }), ErrMalformed},
		{"public key length +1", mod(func(b []byte) []byte { b[len(bin)+68]++; return b }), ErrMalformed},
		{"signature length 0", mod(func(b []byte) []byte { le.PutUint16(b[len(bin)+70:], 0); return b }), ErrMalformed},
		{"signature length huge", mod(func(b []byte) []byte { le.PutUint16(b[len(bin)+70:], 0xffff); return b }), ErrMalformed},
		{"whole trailer too short", append(bytes.Clone(bin[:40]), signed[footer:]...), ErrMalformed},
		{"bad signature", mod(func(b []byte) []byte { b[footer-5] ^= 0x01; return b }), ErrSignature},
		{"config out of range", rawSigned(t, bin, badTCS, key, KeyECDSAP256), ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open(%s) error = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
}

// TestOpenTruncated cuts the signed image at every length inside the
// trailer (from the end, and from the front of the trailer keeping the
// footer).
func TestOpenTruncated(t *testing.T) {
	bin := testBinary(500)
	for _, kt := range testKeyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			signed, err := Sign(bin, testConfig(), testKeys()[kt])
			if err != nil {
				t.Fatal(err)
			}
			tl := len(signed) - len(bin)
			for cut := 1; cut <= tl; cut++ {
				// Losing the end loses the magic: the data looks unsigned.
				if _, err := Open(signed[:len(signed)-cut]); !errors.Is(err, ErrUnsigned) {
					t.Errorf("Open(signed minus last %d bytes) error = %v; want ErrUnsigned", cut, err)
				}
				// Losing bytes of the trailer body but keeping the footer.
				if cut >= tl-24 {
					continue
				}
				d := append(bytes.Clone(signed[:len(bin)+cut]), signed[len(bin)+cut+1:]...)
				if _, err := Open(d); !errors.Is(err, ErrMalformed) {
					t.Errorf("Open(signed minus trailer byte %d) error = %v; want ErrMalformed", cut, err)
				}
				d = bytes.Clone(signed[len(bin)+cut:])
				if _, err := Open(d); !errors.Is(err, ErrMalformed) {
					t.Errorf("Open(trailer from byte %d) error = %v; want ErrMalformed", cut, err)
				}
			}
		})
	}
}

// TestOpenFlippedByte flips one byte at many positions of the binary and
// of every byte of the trailer.
func TestOpenFlippedByte(t *testing.T) {
	bin := testBinary(4096)
	for _, kt := range testKeyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			signed, err := Sign(bin, testConfig(), testKeys()[kt])
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKIXPublicKey(testKeys()[kt].Public())
			body := len(bin)
			footer := len(signed) - 24
			region := func(i int) (string, []error) {
				switch {
				case i < body:
					return "binary", []error{ErrSignature}
				case i < body+64:
					return "config", []error{ErrSignature}
				case i < body+66:
					return "key type", []error{ErrKeyType, ErrMalformed}
				case i < body+72:
					return "lengths", []error{ErrMalformed}
				case i < body+72+len(der):
					// A changed key either fails to parse or no longer
					// verifies the signature (or changes its size).
					return "public key", []error{ErrMalformed, ErrSignature, ErrKeyType}
				case i < footer:
					return "signature", []error{ErrSignature}
				case i < footer+16:
					return "footer", []error{ErrMalformed}
				}
				return "magic", []error{ErrUnsigned}
			}
			step := 37
			for i := 0; i < len(signed); i++ {
				if i < body && i%step != 0 && i != body-1 {
					continue
				}
				for _, x := range []byte{0x01, 0x80, 0xff} {
					d := bytes.Clone(signed)
					d[i] ^= x
					name, want := region(i)
					_, err := Open(d)
					ok := false
					for _, w := range want {
						ok = ok || errors.Is(err, w)
					}
					if !ok {
						t.Errorf("Open(byte %d (%s) ^ %#x) error = %v; want one of %v", i, name, x, err, want)
					}
				}
			}
		})
	}
}

func TestResign(t *testing.T) {
	bin := testBinary(2000)
	key := testKeys()[KeyRSA3072]
	first, err := Sign(bin, testConfig(), testKeys()[KeyECDSAP384])
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := DefaultConfig()
	cfg2.SecurityVersion = 9
	again, err := Sign(first, cfg2, key)
	if err != nil {
		t.Fatalf("Sign(signed image) error = %v", err)
	}
	// PKCS#1 v1.5 is deterministic, so signing the bare binary gives the
	// same bytes.
	direct, err := Sign(bin, cfg2, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, direct) {
		t.Errorf("Sign(signed image) differs from Sign(binary)")
	}
	img, err := Open(again)
	if err != nil || img.Config != cfg2 || img.BinarySize != int64(len(bin)) {
		t.Errorf("Open(re-signed) = %+v, %v; want config %+v, binary size %d", img, err, cfg2, len(bin))
	}
	d1, _ := Digest(bin, cfg2)
	d2, _ := Digest(first, cfg2)
	if d1 != d2 {
		t.Errorf("Digest(signed image) = %x; want Digest(binary) = %x", d2, d1)
	}
	// A malformed trailer is not silently replaced.
	bad := bytes.Clone(first)
	bad[len(bad)-10] = 1
	if _, err := Sign(bad, cfg2, key); !errors.Is(err, ErrMalformed) {
		t.Errorf("Sign(malformed signed image) error = %v; want ErrMalformed", err)
	}
}

func TestTwoStep(t *testing.T) {
	bin := testBinary(1234)
	cfg := testConfig()
	for _, kt := range testKeyTypes {
		t.Run(kt.String(), func(t *testing.T) {
			key := testKeys()[kt]
			d, err := Digest(bin, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Sign outside this package's Sign, with the primitives directly.
			var sig []byte
			switch k := key.(type) {
			case *rsa.PrivateKey:
				sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
			case *ecdsa.PrivateKey:
				sig, err = ecdsa.SignASN1(rand.Reader, k, d[:])
			}
			if err != nil {
				t.Fatal(err)
			}
			signed, err := Attach(bin, cfg, key.Public(), sig)
			if err != nil {
				t.Fatalf("Attach() error = %v", err)
			}
			if _, err := Open(signed); err != nil {
				t.Fatalf("Open(Attach()) error = %v", err)
			}
			// A signature over another config does not attach.
			other := cfg
			other.SecurityVersion++
			if _, err := Attach(bin, other, key.Public(), sig); !errors.Is(err, ErrSignature) {
				t.Errorf("Attach(other config) error = %v; want ErrSignature", err)
			}
			if _, err := Attach(bin, cfg, key.Public(), nil); !errors.Is(err, ErrSignature) {
				t.Errorf("Attach(empty signature) error = %v; want ErrSignature", err)
			}
			if _, err := Attach(bin, cfg, key.Public(), make([]byte, 600)); !errors.Is(err, ErrSignature) {
				t.Errorf("Attach(oversized signature) error = %v; want ErrSignature", err)
			}
		})
	}
}

func TestOpenUnsigned(t *testing.T) {
	bin := testBinary(800)
	cfg := testConfig()
	img, err := OpenUnsigned(bin, cfg)
	if err != nil {
		t.Fatalf("OpenUnsigned() error = %v", err)
	}
	dbg := cfg
	dbg.Debug = true
	if img.Config != dbg || img.Identity.SignerID != ([32]byte{}) || !img.Identity.Debug ||
		img.Identity.UniqueID != Measure(bin, dbg) || img.PublicKey != nil || img.BinarySize != 800 {
		t.Errorf("OpenUnsigned() = %+v; want debug config, zero signer, Measure(bin, debug config)", img)
	}
	if img.Identity.UniqueID == Measure(bin, cfg) {
		t.Errorf("OpenUnsigned() UniqueID ignores the forced Debug flag")
	}
	signed, err := Sign(bin, cfg, testKeys()[KeyECDSAP256])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		cfg  Config
		want error
	}{
		{"signed", signed, cfg, ErrSigned},
		{"signed plus junk", append(bytes.Clone(signed), 1, 2, 3), cfg, ErrMalformed},
		{"config out of range", bin, Config{}, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpenUnsigned(tt.data, tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("OpenUnsigned(%s) error = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestSignValidates(t *testing.T) {
	key := testKeys()[KeyECDSAP256]
	if _, err := Sign(testBinary(10), Config{}, key); !errors.Is(err, ErrConfig) {
		t.Errorf("Sign(zero config) error = %v; want ErrConfig", err)
	}
	if _, err := Digest(testBinary(10), Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Digest(zero config) error = %v; want ErrConfig", err)
	}
}

// FuzzOpen is seeded with real signed images of each key type.
func FuzzOpen(f *testing.F) {
	for i, kt := range testKeyTypes {
		signed, err := Sign(testBinary(64+i), testConfig(), testKeys()[kt])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Add(testBinary(100))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(data)
		if err != nil {
			for _, s := range []error{ErrUnsigned, ErrMalformed, ErrSignature, ErrKeyType, ErrConfig} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Open error %v matches no sentinel", err)
		}
		if err := img.Config.Validate(); err != nil {
			t.Fatalf("Open accepted an invalid config: %v", err)
		}
		if img.Identity.UniqueID != Measure(data[:img.BinarySize], img.Config) {
			t.Fatalf("Open UniqueID is not the measurement of the binary")
		}
	})
}

func ExampleSign() {
	key, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		panic(err)
	}
	binary := []byte("\x7fELF... the enclave binary")
	signed, err := Sign(binary, DefaultConfig(), key)
	if err != nil {
		panic(err)
	}
	img, err := Open(signed)
	if err != nil {
		panic(err)
	}
	fmt.Println(img.BinarySize, img.Identity.Debug, img.Config.NumTCS)
	// Output: 26 false 4
}
