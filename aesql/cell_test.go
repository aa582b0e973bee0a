package aesql

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/confide-dev/confide/internal/vectors"
)

// Real cells from SqlClient's NativeAeadBaseline test resources (see
// ../shared/vectors/manifest.json, ids ae-01..ae-08 and ae-17..ae-24).
var (
	deterministicVectors = []string{"01", "02", "03", "04", "05", "06", "07", "08"}
	randomizedVectors    = []string{"17", "18", "19", "20", "21", "22", "23", "24"}
)

type vector struct {
	name             string
	cek, plain, cell []byte
}

func readVector(t testing.TB, n string) vector {
	t.Helper()
	return vector{
		name:  n,
		cek:   vectors.Read(t, "always-encrypted/RootKey"+n+".bin"),
		plain: vectors.Read(t, "always-encrypted/PlainText"+n+".bin"),
		cell:  vectors.Read(t, "always-encrypted/FinalCell"+n+".bin"),
	}
}

func mustKey(t testing.TB, cek []byte) *Key {
	t.Helper()
	k, err := NewKey(cek)
	if err != nil {
		t.Fatalf("NewKey(%x) = %v", cek, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestDeterministicVectors(t *testing.T) {
	for _, n := range deterministicVectors {
		t.Run("FinalCell"+n, func(t *testing.T) {
			v := readVector(t, n)
			k := mustKey(t, v.cek)
			got, err := k.Encrypt(v.plain, true)
			if err != nil {
				t.Fatalf("Encrypt(PlainText%s, true) = %v", n, err)
			}
			if !bytes.Equal(got, v.cell) {
				t.Errorf("Encrypt(PlainText%s, true) = %x; want %x", n, got, v.cell)
			}
			plain, err := k.Decrypt(v.cell)
			if err != nil {
				t.Fatalf("Decrypt(FinalCell%s) = %v", n, err)
			}
			if !bytes.Equal(plain, v.plain) {
				t.Errorf("Decrypt(FinalCell%s) = %x; want %x", n, plain, v.plain)
			}
		})
	}
}

func TestRandomizedVectors(t *testing.T) {
	for _, n := range randomizedVectors {
		t.Run("FinalCell"+n, func(t *testing.T) {
			v := readVector(t, n)
			k := mustKey(t, v.cek)
			plain, err := k.Decrypt(v.cell)
			if err != nil {
				t.Fatalf("Decrypt(FinalCell%s) = %v", n, err)
			}
			if !bytes.Equal(plain, v.plain) {
				t.Errorf("Decrypt(FinalCell%s) = %x; want %x", n, plain, v.plain)
			}
			// A randomized cell is not the deterministic encryption.
			det, err := k.Encrypt(v.plain, true)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(det, v.cell) {
				t.Errorf("Encrypt(PlainText%s, true) equals the randomized cell", n)
			}
		})
	}
}

// TestSubKeys checks the derivation against an independent computation with
// the label spelled out as UTF-16LE bytes by hand.
func TestSubKeys(t *testing.T) {
	cek := bytes.Repeat([]byte{0x42}, KeySize)
	k := mustKey(t, cek)
	label := "Microsoft SQL Server cell MAC key with encryption algorithm:AEAD_AES_256_CBC_HMAC_SHA256 and key length:256"
	var u []byte
	for i := 0; i < len(label); i++ { // the label is ASCII
		u = append(u, label[i], 0)
	}
	m := hmac.New(sha256.New, cek)
	m.Write(u)
	if want := m.Sum(nil); !bytes.Equal(k.macKey[:], want) {
		t.Errorf("mac key = %x; want %x", k.macKey, want)
	}
}

func TestRoundTrip(t *testing.T) {
	k := mustKey(t, bytes.Repeat([]byte{7}, KeySize))
	for _, size := range []int{0, 1, 15, 16, 17, 31, 32, 33, 4096} {
		for _, det := range []bool{false, true} {
			t.Run(fmt.Sprintf("len=%d/det=%v", size, det), func(t *testing.T) {
				plain := bytes.Repeat([]byte{0xa5}, size)
				cell, err := k.Encrypt(plain, det)
				if err != nil {
					t.Fatal(err)
				}
				if want := MinCellSize + size/16*16; len(cell) != want {
					t.Errorf("len(Encrypt(%d bytes)) = %d; want %d", size, len(cell), want)
				}
				got, err := k.Decrypt(cell)
				if err != nil {
					t.Fatalf("Decrypt(Encrypt(%d bytes)) = %v", size, err)
				}
				if !bytes.Equal(got, plain) {
					t.Errorf("Decrypt(Encrypt(%x)) = %x", plain, got)
				}
			})
		}
	}
}

func TestRandomizedDiffers(t *testing.T) {
	k := mustKey(t, bytes.Repeat([]byte{7}, KeySize))
	a, _ := k.Encrypt([]byte("same"), false)
	b, _ := k.Encrypt([]byte("same"), false)
	if bytes.Equal(a, b) {
		t.Errorf("two randomized encryptions of the same plaintext are equal: %x", a)
	}
	c, _ := k.Encrypt([]byte("same"), true)
	d, _ := k.Encrypt([]byte("same"), true)
	if !bytes.Equal(c, d) {
		t.Errorf("two deterministic encryptions differ: %x, %x", c, d)
	}
}

func TestNewKeyErrors(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if _, err := NewKey(make([]byte, n)); !errors.Is(err, ErrKeySize) {
				t.Errorf("NewKey(%d bytes) = %v; want ErrKeySize", n, err)
			}
		})
	}
}

// forge builds a cell with a valid tag around an arbitrary ciphertext, so
// that padding errors can be reached.
func forge(k *Key, iv, ct []byte) []byte {
	cell := append([]byte{CellVersion}, make([]byte, tagSize)...)
	cell = append(cell, iv...)
	cell = append(cell, ct...)
	t := k.tag(nil, cell)
	copy(cell[tagOff:], t)
	return cell
}

func TestDecryptErrors(t *testing.T) {
	cek := bytes.Repeat([]byte{9}, KeySize)
	k := mustKey(t, cek)
	good, err := k.Encrypt([]byte("hello, world"), true)
	if err != nil {
		t.Fatal(err)
	}
	// A block whose decryption ends in a zero byte: bad padding.
	badPad := func(last byte) []byte {
		plain := bytes.Repeat([]byte{last}, aes.BlockSize)
		iv := make([]byte, aes.BlockSize)
		ct := make([]byte, aes.BlockSize)
		cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(ct, plain)
		return forge(k, iv, ct)
	}
	mixedPad := func() []byte {
		plain := bytes.Repeat([]byte{3}, aes.BlockSize)
		plain[13] = 2
		iv := make([]byte, aes.BlockSize)
		ct := make([]byte, aes.BlockSize)
		cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(ct, plain)
		return forge(k, iv, ct)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(good)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name string
		cell []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:MinCellSize-1], ErrMalformed},
		{"partial block", good[:len(good)-1], ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"version 0", append([]byte{0}, good[1:]...), ErrMalformed},
		{"version 2", append([]byte{2}, good[1:]...), ErrMalformed},
		{"tag bit", flip(tagOff), ErrMAC},
		{"iv bit", flip(ivOff), ErrMAC},
		{"ciphertext bit", flip(len(good) - 1), ErrMAC},
		{"extra block", append(bytes.Clone(good), make([]byte, 16)...), ErrMAC},
		{"pad 0", badPad(0), ErrMalformed},
		{"pad 17", badPad(17), ErrMalformed},
		{"pad mixed", mixedPad(), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Decrypt(tt.cell)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decrypt(%x) = %x, %v; want %v", tt.cell, got, err, tt.want)
			}
		})
	}
	var ce *CellError
	if _, err := k.Decrypt(nil); !errors.As(err, &ce) {
		t.Errorf("Decrypt(nil) = %v; want *CellError", err)
	}
}

func TestClose(t *testing.T) {
	k, err := NewKey(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	cell, _ := k.Encrypt([]byte("x"), true)
	k.Close()
	var zero [KeySize]byte
	if k.encKey != zero || k.macKey != zero || k.ivKey != zero {
		t.Errorf("Close left key material: %x %x %x", k.encKey, k.macKey, k.ivKey)
	}
	if _, err := k.Encrypt([]byte("x"), true); !errors.Is(err, ErrClosed) {
		t.Errorf("Encrypt after Close = %v; want ErrClosed", err)
	}
	if _, err := k.Decrypt(cell); !errors.Is(err, ErrClosed) {
		t.Errorf("Decrypt after Close = %v; want ErrClosed", err)
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestRandFailure(t *testing.T) {
	k, err := NewKeyWithOptions(bytes.Repeat([]byte{1}, KeySize), &Options{Rand: failReader{}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if c, err := k.Encrypt([]byte("x"), false); err == nil {
		t.Errorf("Encrypt with failing Rand = %x, nil; want error", c)
	}
	if _, err := k.Encrypt([]byte("x"), true); err != nil {
		t.Errorf("deterministic Encrypt with failing Rand = %v; want nil", err)
	}
}

func FuzzDecrypt(f *testing.F) {
	ceks := map[string][]byte{}
	for _, n := range append(deterministicVectors, randomizedVectors...) {
		v := readVector(f, n)
		f.Add(v.cell)
		ceks[hex.EncodeToString(v.cek)] = v.cek
	}
	f.Add([]byte{})
	f.Add([]byte{CellVersion})
	var keys []*Key
	for _, cek := range ceks {
		keys = append(keys, mustKey(f, cek))
	}
	f.Fuzz(func(t *testing.T, cell []byte) {
		in := bytes.Clone(cell)
		for _, k := range keys {
			plain, err := k.Decrypt(cell)
			if !bytes.Equal(in, cell) {
				t.Fatalf("Decrypt modified its input")
			}
			if err != nil {
				if !errors.Is(err, ErrMAC) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decrypt(%x) = %v; want ErrMAC or ErrMalformed", cell, err)
				}
				continue
			}
			// Whatever decrypts must re-encrypt to a cell of the same size.
			again, err := k.Encrypt(plain, false)
			if err != nil || len(again) != len(cell) {
				t.Fatalf("Encrypt(Decrypt(%x)) = %d bytes, %v; want %d bytes", cell, len(again), err, len(cell))
			}
		}
	})
}
