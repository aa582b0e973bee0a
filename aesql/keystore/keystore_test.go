package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var testKeys = sync.OnceValues(func() ([][]byte, error) {
	var out [][]byte
	for range 2 {
		p, err := GenerateKeyPEM(2048)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
})

// newStore returns a FileStore holding two CMKs, "cmk/a.pem" and "b.pem".
func newStore(t *testing.T) (*FileStore, []*rsa.PrivateKey) {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cmk"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmk", "a.pem"), keys[0], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.pem"), keys[1], 0o600); err != nil {
		t.Fatal(err)
	}
	var privs []*rsa.PrivateKey
	for _, k := range keys {
		p, err := ParsePrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		privs = append(privs, p)
	}
	return NewFileStore(dir), privs
}

// utf16Bytes spells out ASCII as UTF-16LE by hand.
func utf16Bytes(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

// TestWrapFormat checks a wrapped CEK against the layout SQL Server
// documents, using crypto/rsa directly rather than this package's parser.
func TestWrapFormat(t *testing.T) {
	s, privs := newStore(t)
	ctx := context.Background()
	cek := bytes.Repeat([]byte{0x5a}, CEKSize)
	enc, err := s.WrapKey(ctx, "cmk/a.pem", "rsa_oaep", cek)
	if err != nil {
		t.Fatal(err)
	}
	path := utf16Bytes("cmk/a.pem")
	n := privs[0].Size()
	if want := 5 + len(path) + 2*n; len(enc) != want {
		t.Fatalf("len(WrapKey) = %d; want %d", len(enc), want)
	}
	if enc[0] != 0x01 {
		t.Errorf("version = %#x; want 0x01", enc[0])
	}
	if got := binary.LittleEndian.Uint16(enc[1:]); int(got) != len(path) {
		t.Errorf("key path length = %d; want %d", got, len(path))
	}
	if got := binary.LittleEndian.Uint16(enc[3:]); int(got) != n {
		t.Errorf("ciphertext length = %d; want %d", got, n)
	}
	if !bytes.Equal(enc[5:5+len(path)], path) {
		t.Errorf("key path = %x; want %x", enc[5:5+len(path)], path)
	}
	ct := enc[5+len(path) : 5+len(path)+n]
	sig := enc[5+len(path)+n:]
	h := sha256.Sum256(enc[:5+len(path)+n])
	if err := rsa.VerifyPKCS1v15(&privs[0].PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Errorf("signature does not verify as PKCS#1 v1.5 SHA-256: %v", err)
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, privs[0], ct, nil)
	if err != nil || !bytes.Equal(plain, cek) {
		t.Errorf("RSA-OAEP-SHA1 decrypt = %x, %v; want %x", plain, err, cek)
	}
	got, err := s.UnwrapKey(ctx, "cmk/a.pem", "RSA_OAEP", enc)
	if err != nil || !bytes.Equal(got, cek) {
		t.Errorf("UnwrapKey(WrapKey(%x)) = %x, %v", cek, got, err)
	}
}

// TestUnwrapHandBuilt unwraps a value assembled by hand from the spec.
func TestUnwrapHandBuilt(t *testing.T) {
	s, privs := newStore(t)
	cek := []byte("0123456789abcdef0123456789abcdef")
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &privs[1].PublicKey, cek, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := utf16Bytes("some/other/path") // the recorded path is not checked
	v := []byte{1}
	v = binary.LittleEndian.AppendUint16(v, uint16(len(path)))
	v = binary.LittleEndian.AppendUint16(v, uint16(len(ct)))
	v = append(append(v, path...), ct...)
	h := sha256.Sum256(v)
	sig, err := rsa.SignPKCS1v15(rand.Reader, privs[1], crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	v = append(v, sig...)
	got, err := s.UnwrapKey(context.Background(), "b.pem", "RSA_OAEP", v)
	if err != nil || !bytes.Equal(got, cek) {
		t.Errorf("UnwrapKey(hand-built) = %x, %v; want %x", got, err, cek)
	}
	e, err := ParseEncryptedCEK(v)
	if err != nil {
		t.Fatal(err)
	}
	if e.KeyPath != "some/other/path" {
		t.Errorf("ParseEncryptedCEK().KeyPath = %q; want %q", e.KeyPath, "some/other/path")
	}
	again, err := e.Marshal()
	if err != nil || !bytes.Equal(again, v) {
		t.Errorf("Marshal(ParseEncryptedCEK(v)) = %x, %v; want v", again, err)
	}
}

func TestUnwrapErrors(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	enc, err := s.WrapKey(ctx, "cmk/a.pem", "RSA_OAEP", make([]byte, CEKSize))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(enc)
		c[i] ^= 1
		return c
	}
	pathEnd := 5 + len(utf16Bytes("cmk/a.pem"))
	tests := []struct {
		name    string
		keyPath string
		alg     string
		in      []byte
		want    error
	}{
		{"wrong key", "b.pem", "RSA_OAEP", enc, ErrSignature},
		{"key path byte", "cmk/a.pem", "RSA_OAEP", flip(6), ErrSignature},
		{"ciphertext byte", "cmk/a.pem", "RSA_OAEP", flip(pathEnd + 3), ErrSignature},
		{"signature byte", "cmk/a.pem", "RSA_OAEP", flip(len(enc) - 1), ErrSignature},
		{"version", "cmk/a.pem", "RSA_OAEP", flip(0), ErrMalformed},
		{"truncated", "cmk/a.pem", "RSA_OAEP", enc[:len(enc)-1], ErrMalformed},
		{"trailing", "cmk/a.pem", "RSA_OAEP", append(bytes.Clone(enc), 0), ErrMalformed},
		{"algorithm", "cmk/a.pem", "RSA_OAEP_256", enc, ErrAlgorithm},
		{"missing file", "nope.pem", "RSA_OAEP", enc, ErrKeyPath},
		{"escape", "../b.pem", "RSA_OAEP", enc, ErrKeyPath},
		{"absolute", "/etc/passwd", "RSA_OAEP", enc, ErrKeyPath},
		{"unclean", "cmk//a.pem", "RSA_OAEP", enc, ErrKeyPath},
		{"empty", "", "RSA_OAEP", enc, ErrKeyPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UnwrapKey(ctx, tt.keyPath, tt.alg, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("UnwrapKey(%q, %q) = %x, %v; want %v", tt.keyPath, tt.alg, got, err, tt.want)
			}
		})
	}
}

func TestCMKMetadata(t *testing.T) {
	s, privs := newStore(t)
	ctx := context.Background()
	sig, err := s.SignCMKMetadata(ctx, "cmk/a.pem", true)
	if err != nil {
		t.Fatal(err)
	}
	// Independent check: SHA-256 over UTF-16LE of the lowercased
	// provider name, key path and "true", signed PKCS#1 v1.5.
	h := sha256.Sum256(utf16Bytes("confide_key_filecmk/a.pemtrue"))
	if err := rsa.VerifyPKCS1v15(&privs[0].PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Errorf("metadata signature does not verify over the documented hash: %v", err)
	}
	tests := []struct {
		name    string
		keyPath string
		enclave bool
		sig     []byte
		want    error
	}{
		{"ok", "cmk/a.pem", true, sig, nil},
		{"flag differs", "cmk/a.pem", false, sig, ErrSignature},
		{"other key", "b.pem", true, sig, ErrSignature},
		{"truncated", "cmk/a.pem", true, sig[1:], ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.VerifyCMKMetadata(ctx, tt.keyPath, tt.enclave, tt.sig)
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifyCMKMetadata(%q, %v) = %v; want %v", tt.keyPath, tt.enclave, err, tt.want)
			}
		})
	}
}

// TestCMKMetadataHashCase checks that the hash lowercases its input: SQL
// Server compares key paths case-insensitively.
func TestCMKMetadataHashCase(t *testing.T) {
	a := CMKMetadataHash("MSSQL_CERTIFICATE_STORE", "CurrentUser/My/ABCDEF", false)
	want := sha256.Sum256(utf16Bytes("mssql_certificate_storecurrentuser/my/abcdeffalse"))
	if a != want {
		t.Errorf("CMKMetadataHash = %x; want %x", a, want)
	}
}

func TestRotation(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	enc, err := NewCEK(ctx, s, "cmk/a.pem", nil)
	if err != nil {
		t.Fatal(err)
	}
	cek, err := s.UnwrapKey(ctx, "cmk/a.pem", AlgorithmRSAOAEP, enc)
	if err != nil || len(cek) != CEKSize {
		t.Fatalf("UnwrapKey(NewCEK) = %d bytes, %v; want %d bytes", len(cek), err, CEKSize)
	}
	moved, err := Rewrap(ctx, s, "cmk/a.pem", s, "b.pem", enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UnwrapKey(ctx, "b.pem", AlgorithmRSAOAEP, moved)
	if err != nil || !bytes.Equal(got, cek) {
		t.Errorf("UnwrapKey(Rewrap) = %x, %v; want %x", got, err, cek)
	}
	if _, err := s.UnwrapKey(ctx, "cmk/a.pem", AlgorithmRSAOAEP, moved); !errors.Is(err, ErrSignature) {
		t.Errorf("UnwrapKey(old cmk, rewrapped) = %v; want ErrSignature", err)
	}
	other, err := NewCEK(ctx, s, "cmk/a.pem", nil)
	if err != nil {
		t.Fatal(err)
	}
	cek2, _ := s.UnwrapKey(ctx, "cmk/a.pem", AlgorithmRSAOAEP, other)
	if bytes.Equal(cek2, cek) {
		t.Errorf("two NewCEK calls gave the same key")
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ParsePrivateKeyPEM(keys[0])
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	small1024 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"pkcs8", keys[0], true},
		{"pkcs1", pkcs1, true},
		{"trailing", append(bytes.Clone(keys[0]), "junk"...), false},
		{"empty", nil, false},
		{"1024 bits", small1024, false},
		{"cert type", bytes.Replace(keys[0], []byte("PRIVATE KEY"), []byte("CERTIFICATE"), 2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKeyPEM(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("ParsePrivateKeyPEM = %v; want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrKey) {
				t.Errorf("ParsePrivateKeyPEM = %v; want ErrKey", err)
			}
		})
	}
	if _, err := GenerateKeyPEM(1024); !errors.Is(err, ErrKey) {
		t.Errorf("GenerateKeyPEM(1024) = %v; want ErrKey", err)
	}
}

func TestParseEncryptedCEKErrors(t *testing.T) {
	hdr := func(pathLen, ctLen uint16) []byte {
		b := []byte{1}
		b = binary.LittleEndian.AppendUint16(b, pathLen)
		return binary.LittleEndian.AppendUint16(b, ctLen)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", []byte{1, 2, 0}},
		{"zero path", append(hdr(0, 2), 0, 0, 0, 0)},
		{"odd path", append(hdr(1, 1), 'a', 0, 0)},
		{"zero ciphertext", append(hdr(2, 0), 'a', 0)},
		{"huge ciphertext", append(hdr(2, 4096), 'a', 0)},
		{"lone surrogate", append(hdr(2, 1), 0x00, 0xd8, 7, 7)},
		{"short signature", append(hdr(2, 2), 'a', 0, 7, 7, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEncryptedCEK(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseEncryptedCEK(%x) = %+v, %v; want ErrMalformed", tt.in, got, err)
			}
		})
	}
}

func FuzzParseEncryptedCEK(f *testing.F) {
	keys, err := testKeys()
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "k.pem"), keys[0], 0o600)
	enc, err := NewFileStore(dir).WrapKey(context.Background(), "k.pem", AlgorithmRSAOAEP, make([]byte, CEKSize))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte{1, 2, 0, 1, 0, 'a', 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEncryptedCEK(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEncryptedCEK(%x) = %v; want ErrMalformed", b, err)
			}
			return
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("Marshal(ParseEncryptedCEK(%x)) = %x, %v", b, again, err)
		}
	})
}
