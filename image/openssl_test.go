package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl runs the system openssl in dir and returns its stdout.
func openssl(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not found in PATH")
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenSSLRSA signs with an "openssl genrsa -3 3072" key (e = 3), in
// PKCS#8 and PKCS#1 PEM, directly and in two steps with "openssl pkeyutl",
// and checks SignerID against openssl's modulus, reversed and hashed.
func TestOpenSSLRSA(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	openssl(t, dir, "genrsa", "-3", "-out", "key.pem", "3072")
	openssl(t, dir, "rsa", "-in", "key.pem", "-traditional", "-out", "key1.pem")
	openssl(t, dir, "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem")
	openssl(t, dir, "rsa", "-in", "key.pem", "-RSAPublicKey_out", "-out", "pub1.pem")

	// SGX MRSIGNER from openssl's view of the key.
	mod := strings.TrimSpace(string(openssl(t, dir, "rsa", "-in", "key.pem", "-noout", "-modulus")))
	n, err := hex.DecodeString(strings.TrimPrefix(mod, "Modulus="))
	if err != nil || len(n) != 384 {
		t.Fatalf("openssl modulus %q: %v", mod, err)
	}
	for i, j := 0, len(n)-1; i < j; i, j = i+1, j-1 {
		n[i], n[j] = n[j], n[i]
	}
	wantSID := sha256.Sum256(n)

	bin := testBinary(5000)
	cfg := testConfig()
	for _, name := range []string{"key.pem", "key1.pem"} {
		t.Run("sign "+name, func(t *testing.T) {
			key, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, name)))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM(%s) error = %v", name, err)
			}
			signed, err := Sign(bin, cfg, key)
			if err != nil {
				t.Fatalf("Sign() error = %v", err)
			}
			img, err := Open(signed)
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if img.Identity.SignerID != wantSID {
				t.Errorf("SignerID = %x; want %x (openssl modulus, little-endian, SHA-256)", img.Identity.SignerID, wantSID)
			}
		})
	}
	for _, name := range []string{"pub.pem", "pub1.pem"} {
		t.Run("two-step "+name, func(t *testing.T) {
			d, err := Digest(bin, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "digest.bin"), d[:], 0o600); err != nil {
				t.Fatal(err)
			}
			openssl(t, dir, "pkeyutl", "-sign", "-inkey", "key.pem", "-pkeyopt", "digest:sha256", "-in", "digest.bin", "-out", "sig.bin")
			pub, err := ParsePublicKeyPEM(readFile(t, filepath.Join(dir, name)))
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM(%s) error = %v", name, err)
			}
			signed, err := Attach(bin, cfg, pub, readFile(t, filepath.Join(dir, "sig.bin")))
			if err != nil {
				t.Fatalf("Attach(openssl signature) error = %v", err)
			}
			img, err := Open(signed)
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if img.Identity.SignerID != wantSID {
				t.Errorf("SignerID = %x; want %x", img.Identity.SignerID, wantSID)
			}
			// Our own RSA signature is byte-identical to openssl's.
			key, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "key.pem")))
			if err != nil {
				t.Fatal(err)
			}
			ours, err := Sign(bin, cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, signed) {
				t.Errorf("Sign() differs from the openssl two-step image (PKCS#1 v1.5 is deterministic)")
			}
		})
	}
	t.Run("rsa2048", func(t *testing.T) {
		openssl(t, dir, "genrsa", "-out", "small.pem", "2048")
		if _, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "small.pem"))); !errors.Is(err, ErrKeyType) {
			t.Errorf("ParsePrivateKeyPEM(rsa-2048) error = %v; want ErrKeyType", err)
		}
	})
}

// TestOpenSSLECDSA uses SEC1 keys from "openssl ecparam -genkey" and the
// two-step flow, and checks SignerID against the point in openssl's DER.
func TestOpenSSLECDSA(t *testing.T) {
	needOpenSSL(t)
	for _, tc := range []struct {
		curve string
		size  int
	}{{"prime256v1", 32}, {"secp384r1", 48}} {
		t.Run(tc.curve, func(t *testing.T) {
			dir := t.TempDir()
			openssl(t, dir, "ecparam", "-name", tc.curve, "-genkey", "-out", "key.pem")
			der := openssl(t, dir, "pkey", "-in", "key.pem", "-pubout", "-outform", "DER")
			pubPEM := openssl(t, dir, "pkey", "-in", "key.pem", "-pubout")
			// The uncompressed point ends the SubjectPublicKeyInfo.
			wantSID := sha256.Sum256(der[len(der)-(1+2*tc.size):])

			bin := testBinary(700)
			cfg := testConfig()
			key, err := ParsePrivateKeyPEM(readFile(t, filepath.Join(dir, "key.pem")))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM(SEC1) error = %v", err)
			}
			signed, err := Sign(bin, cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Open(signed)
			if err != nil || img.Identity.SignerID != wantSID {
				t.Fatalf("Open() = signer %x, %v; want %x", img.Identity.SignerID, err, wantSID)
			}

			d, err := Digest(bin, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "digest.bin"), d[:], 0o600); err != nil {
				t.Fatal(err)
			}
			openssl(t, dir, "pkeyutl", "-sign", "-inkey", "key.pem", "-in", "digest.bin", "-out", "sig.bin")
			pub, err := ParsePublicKeyPEM(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			signed2, err := Attach(bin, cfg, pub, readFile(t, filepath.Join(dir, "sig.bin")))
			if err != nil {
				t.Fatalf("Attach(openssl signature) error = %v", err)
			}
			if img2, err := Open(signed2); err != nil || img2.Identity != img.Identity {
				t.Errorf("Open(two-step) = %+v, %v; want identity %+v", img2, err, img.Identity)
			}
		})
	}
}
