package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

func ident(unique, signer byte, prod, svn uint16) image.Identity {
	var id image.Identity
	id.UniqueID[0] = unique
	id.SignerID[0] = signer
	id.ProductID = prod
	id.SecurityVersion = svn
	return id
}

func platform(t testing.TB, dir string, id image.Identity) *sim.Platform {
	t.Helper()
	p, err := sim.Open(dir, id, sim.Options{})
	if err != nil {
		t.Fatalf("sim.Open = %v", err)
	}
	return p
}

// noExact hides the sim's SealKeyExact, as a platform without it.
type noExact struct{ tee.Platform }

func mustSeal(t testing.TB, p tee.Platform, policy tee.KeyPolicy, pt, ad []byte) []byte {
	t.Helper()
	b, err := Seal(p, policy, pt, ad)
	if err != nil {
		t.Fatalf("Seal = %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	p := platform(t, dir, ident(1, 1, 1, 1))
	for _, tc := range []struct {
		name   string
		policy tee.KeyPolicy
		pt, ad []byte
	}{
		{"unique", tee.ByUniqueID, []byte("secret"), nil},
		{"signer", tee.BySigner, []byte("secret"), []byte("context")},
		{"empty", tee.ByUniqueID, nil, nil},
		{"large", tee.BySigner, bytes.Repeat([]byte{7}, 100000), []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustSeal(t, p, tc.policy, tc.pt, tc.ad)
			if len(b) != HeaderSize+len(tc.pt)+16 {
				t.Errorf("len(blob) = %d; want %d", len(b), HeaderSize+len(tc.pt)+16)
			}
			got, err := Open(p, b, tc.ad)
			if err != nil || !bytes.Equal(got, tc.pt) {
				t.Errorf("Open(Seal(%q)) = %q, %v", tc.pt, got, err)
			}
			if bytes.Contains(b, []byte("secret")) {
				t.Error("blob contains the plaintext")
			}
		})
	}
}

func TestLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	p := platform(t, dir, ident(1, 1, 1, 5))
	b := mustSeal(t, p, tee.BySigner, []byte("abc"), nil)
	cpusvn := p.Info().CPUSVN
	// Offsets as written in spec/seal.md.
	if string(b[0:4]) != "CFSL" || b[4] != 1 || binary.LittleEndian.Uint16(b[5:]) != 2 || binary.LittleEndian.Uint16(b[7:]) != 5 || !bytes.Equal(b[9:25], cpusvn[:]) {
		t.Errorf("header = %x; want CFSL, 1, policy 2, svn 5, cpusvn %x", b[:25], cpusvn)
	}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.KeyID[:], b[25:57]) || !bytes.Equal(h.Nonce[:], b[57:69]) || h.CiphertextSize != 3+16 {
		t.Errorf("ParseHeader = %+v; want keyid b[25:57], nonce b[57:69], ciphertext 19", h)
	}
	// Independent decryption from the spec: key = HKDF(seal key, salt
	// KEYID, info), AES-256-GCM with AD = header.
	sk, err := p.SealKey(tee.KeyRequest{Policy: tee.BySigner, SecurityVersion: 5, CPUSVN: cpusvn, KeyID: h.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	key := hkdfKey(t, sk, h.KeyID[:])
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	if pt, err := g.Open(nil, b[57:69], b[69:], b[:69]); err != nil || string(pt) != "abc" {
		t.Errorf("spec decryption = %q, %v; want abc", pt, err)
	}
	t.Run("fresh-keyid-and-nonce", func(t *testing.T) {
		b2 := mustSeal(t, p, tee.BySigner, []byte("abc"), nil)
		if bytes.Equal(b[25:69], b2[25:69]) {
			t.Error("two seals share KEYID and nonce")
		}
	})
}

func TestVersionsAndSeparation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	otherDir := filepath.Join(t.TempDir(), "sim")
	v0 := platform(t, dir, ident(1, 1, 1, 0))
	v2 := platform(t, dir, ident(2, 1, 1, 2))
	v3 := platform(t, dir, ident(3, 1, 1, 3))
	v2same := platform(t, dir, ident(2, 1, 1, 2))
	otherProduct := platform(t, dir, ident(2, 1, 9, 2))
	otherSigner := platform(t, dir, ident(2, 8, 1, 2))
	otherUnique := platform(t, dir, ident(9, 1, 1, 2))
	elsewhere := platform(t, otherDir, ident(2, 1, 1, 2))
	pt := []byte("the data")
	ad := []byte("ad")
	for _, tc := range []struct {
		name    string
		sealer  tee.Platform
		policy  tee.KeyPolicy
		opener  tee.Platform
		openAD  []byte
		wantErr error
	}{
		{"same-enclave", v2, tee.ByUniqueID, v2same, ad, nil},
		{"newer-opens-older", v2, tee.BySigner, v3, ad, nil},
		{"newer-opens-svn0", v0, tee.BySigner, v3, ad, nil},
		{"svn0-without-exact", v0, tee.BySigner, noExact{v3}, ad, ErrOpen},
		{"same-svn-without-exact", v2, tee.BySigner, noExact{v2same}, ad, nil},
		{"older-refuses-newer", v3, tee.BySigner, v2, ad, ErrVersion},
		{"unique-other-enclave", v2, tee.ByUniqueID, otherUnique, ad, ErrOpen},
		{"signer-other-enclave", v2, tee.BySigner, otherUnique, ad, nil},
		{"signer-other-product", v2, tee.BySigner, otherProduct, ad, ErrOpen},
		{"signer-other-signer", v2, tee.BySigner, otherSigner, ad, ErrOpen},
		{"other-platform", v2, tee.ByUniqueID, elsewhere, ad, ErrOpen},
		{"other-platform-signer", v2, tee.BySigner, elsewhere, ad, ErrOpen},
		{"wrong-ad", v2, tee.ByUniqueID, v2, []byte("other"), ErrOpen},
		{"missing-ad", v2, tee.ByUniqueID, v2, nil, ErrOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustSeal(t, tc.sealer, tc.policy, pt, ad)
			got, err := Open(tc.opener, b, tc.openAD)
			if tc.wantErr == nil {
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %q, %v; want %q", got, err, pt)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open = %v; want %v", err, tc.wantErr)
			}
			if got != nil {
				t.Errorf("Open returned plaintext %q with an error", got)
			}
		})
	}
	t.Run("version-error-detail", func(t *testing.T) {
		_, err := Open(v2, mustSeal(t, v3, tee.BySigner, pt, nil), nil)
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Field != "isvsvn" || ve.Blob != "3" || ve.Have != "2" {
			t.Errorf("Open(newer) = %v; want *VersionError{isvsvn 3 > 2}", err)
		}
	})
}

func TestTamperAndMalformed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	p := platform(t, dir, ident(1, 1, 1, 1))
	good := mustSeal(t, p, tee.ByUniqueID, []byte("payload"), nil)
	flip := func(i int, x byte) []byte { b := bytes.Clone(good); b[i] ^= x; return b }
	for _, tc := range []struct {
		name string
		blob []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"bad-magic", flip(0, 1), ErrMalformed},
		{"version-2", flip(4, 3), ErrVersion},
		{"policy-3", flip(5, 2), ErrMalformed},
		{"policy-signer", flip(5, 3), ErrOpen},
		{"svn-lower", flip(7, 1), ErrOpen},
		{"svn-higher", flip(8, 1), ErrVersion},
		{"cpusvn-higher", flip(9, 0x80), ErrVersion},
		{"cpusvn-lower", flip(9, 2), ErrOpen},
		{"keyid", flip(30, 1), ErrOpen},
		{"nonce", flip(60, 1), ErrOpen},
		{"ciphertext", flip(70, 1), ErrOpen},
		{"tag", flip(len(good)-1, 1), ErrOpen},
		{"truncated-header", good[:40], ErrMalformed},
		{"truncated-tag", good[:HeaderSize+15], ErrMalformed},
		{"truncated-ciphertext", good[:len(good)-1], ErrOpen},
		{"trailing", append(bytes.Clone(good), 0), ErrOpen},
		{"oversized", make([]byte, MaxBlobSize+1), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(p, tc.blob, nil); !errors.Is(err, tc.want) {
				t.Errorf("Open(%s) = %v; want %v", tc.name, err, tc.want)
			}
		})
	}
	if _, err := Seal(p, tee.ByUniqueID|tee.BySigner, nil, nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("Seal(both policies) = %v; want ErrPolicy", err)
	}
}

func FuzzOpen(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "sim")
	p := platform(f, dir, ident(1, 1, 1, 1))
	for _, pol := range []tee.KeyPolicy{tee.ByUniqueID, tee.BySigner} {
		f.Add(mustSeal(f, p, pol, []byte("seed plaintext"), nil))
	}
	f.Add(mustSeal(f, p, tee.BySigner, nil, nil))
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, perr := ParseHeader(blob)
		pt, err := Open(p, blob, nil)
		if err == nil {
			if perr != nil {
				t.Fatalf("Open accepted a blob ParseHeader rejects: %v", perr)
			}
			if len(pt) != h.CiphertextSize-16 {
				t.Errorf("len(plaintext) = %d; want %d", len(pt), h.CiphertextSize-16)
			}
			return
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrOpen) {
			t.Errorf("Open = %v; want one of ErrMalformed, ErrVersion, ErrOpen", err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "sim")
	p := platform(f, dir, ident(1, 1, 1, 1))
	f.Add(mustSeal(f, p, tee.ByUniqueID, []byte("seed"), nil))
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, err := ParseHeader(blob)
		if err != nil {
			return
		}
		if h.CiphertextSize != len(blob)-HeaderSize || h.CiphertextSize < 16 || (h.Policy != tee.ByUniqueID && h.Policy != tee.BySigner) {
			t.Errorf("ParseHeader(%d bytes) = %+v: inconsistent", len(blob), h)
		}
	})
}

// TestAppend checks that AppendSeal and AppendOpen append after what dst
// holds and round-trip, reusing the buffers.
func TestAppend(t *testing.T) {
	p := platform(t, filepath.Join(t.TempDir(), "sim"), ident(1, 1, 1, 1))
	prefix := []byte("prefix")
	for _, msg := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		blob, err := AppendSeal(append([]byte(nil), prefix...), p, tee.ByUniqueID, msg, []byte("ad"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(blob, prefix) {
			t.Fatalf("AppendSeal lost the prefix")
		}
		pt, err := AppendOpen(append([]byte(nil), prefix...), p, blob[len(prefix):], []byte("ad"))
		if err != nil || !bytes.Equal(pt, append(append([]byte(nil), prefix...), msg...)) {
			t.Fatalf("AppendOpen = %q, %v; want prefix ‖ message", pt, err)
		}
		// The blob is an ordinary blob.
		if got, err := Open(p, blob[len(prefix):], []byte("ad")); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Open(AppendSeal blob) = %q, %v", got, err)
		}
	}
}
