package dataset

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func testKey(t testing.TB, b byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{b}, KeySize)
}

func seal(t testing.TB, pt []byte, key []byte, meta Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := Encrypt(&buf, bytes.NewReader(pt), key, meta)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if n != int64(len(pt)) {
		t.Fatalf("Encrypt() = %d bytes; want %d", n, len(pt))
	}
	return buf.Bytes()
}

// hdrLen returns the header length of a stream (fixed part + metadata).
func hdrLen(ct []byte) int { return fixedHdrSize + int(binary.BigEndian.Uint32(ct[offMetaLen:])) }

func TestRoundTrip(t *testing.T) {
	const cs = 64
	meta := Meta{ID: "bank-a", Schema: []Column{{Name: "id", Type: "string"}}, ChunkSize: cs}
	for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 2 * cs, 3*cs + 7, 10000} {
		t.Run(string(rune('a'+size%26))+"/"+itoa(size), func(t *testing.T) {
			pt := make([]byte, size)
			rand.Read(pt)
			ct := seal(t, pt, testKey(t, 1), meta)
			chunks := max(1, (size+cs-1)/cs) // an exact multiple ends with a full final chunk
			if want := hdrLen(ct) + size + chunks*tagSize; len(ct) != want {
				t.Errorf("len(ciphertext) = %d; want %d (%d chunks)", len(ct), want, chunks)
			}
			var out bytes.Buffer
			m, err := Decrypt(&out, bytes.NewReader(ct), testKey(t, 1))
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(out.Bytes(), pt) {
				t.Errorf("Decrypt() plaintext differs from input (%d vs %d bytes)", out.Len(), len(pt))
			}
			if m.ID != meta.ID || m.ChunkSize != cs || len(m.Schema) != 1 {
				t.Errorf("Decrypt() meta = %+v; want %+v", m, meta)
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestEncryptRandomized(t *testing.T) {
	pt := []byte("same plaintext")
	a := seal(t, pt, testKey(t, 1), Meta{ID: "x"})
	b := seal(t, pt, testKey(t, 1), Meta{ID: "x"})
	if bytes.Equal(a, b) {
		t.Errorf("two encryptions of the same plaintext are identical; want fresh salt and nonce prefix")
	}
}

func TestTamper(t *testing.T) {
	const cs = 32
	key := testKey(t, 7)
	pt := bytes.Repeat([]byte("0123456789abcdef"), 8) // 128 bytes = 4 full chunks, the last sealed final
	ct := seal(t, pt, key, Meta{ID: "t", ChunkSize: cs})
	hl := hdrLen(ct)
	full := cs + tagSize
	chunk := func(i int) []byte { return ct[hl+i*full : hl+(i+1)*full] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := seal(t, pt, key, Meta{ID: "t", ChunkSize: cs})
	ohl := hdrLen(other)

	tests := []struct {
		name string
		ct   []byte
		key  []byte
		want error
	}{
		{"wrong key", ct, testKey(t, 8), ErrAuth},
		{"drop final chunk", ct[:hl+3*full], key, ErrAuth},
		{"drop last two chunks", ct[:hl+2*full], key, ErrAuth},
		{"cut final chunk", ct[:len(ct)-tagSize], key, ErrAuth},
		{"cut mid chunk", ct[:hl+full+5], key, ErrAuth},
		{"cut inside tag of final", ct[:len(ct)-3], key, ErrAuth},
		{"swap chunks", join(ct[:hl], chunk(1), chunk(0), ct[hl+2*full:]), key, ErrAuth},
		{"duplicate chunk", join(ct[:hl], chunk(0), chunk(0), ct[hl+1*full:]), key, ErrAuth},
		{"append a chunk", join(ct, ct[len(ct)-tagSize:]), key, ErrAuth},
		{"trailing byte", join(ct, []byte{0}), key, ErrAuth},
		{"splice other stream", join(ct[:hl], other[ohl:]), key, ErrAuth},
		{"flip ciphertext bit", flip(ct, hl+3), key, ErrAuth},
		{"change metadata", bytes.Replace(ct, []byte(`"id":"t"`), []byte(`"id":"u"`), 1), key, ErrAuth},
		{"change nonce prefix", flip(ct, offNonce), key, ErrAuth},
		{"header only", ct[:hl], key, ErrAuth},
		{"bad magic", flip(ct, 0), key, ErrFormat},
		{"short key", ct, key[:16], ErrKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decrypt(io.Discard, bytes.NewReader(tt.ct), tt.key)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decrypt(%s) = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestParseHeader(t *testing.T) {
	good := seal(t, []byte("x"), testKey(t, 1), Meta{ID: "d", ChunkSize: 1024})
	hl := hdrLen(good)
	set := func(off int, v ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[off:], v)
		return c
	}
	withMeta := func(m string) []byte {
		c := bytes.Clone(good[:fixedHdrSize])
		binary.BigEndian.PutUint32(c[offMetaLen:], uint32(len(m)))
		return append(c, m...)
	}
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"good", good, true},
		{"empty", nil, false},
		{"truncated fixed", good[:fixedHdrSize-1], false},
		{"truncated meta", good[:hl-1], false},
		{"version 2", set(offVersion, 2), false},
		{"flags", set(offFlags, 1), false},
		{"reserved", set(offReserved+1, 1), false},
		{"chunk size zero", set(offChunkSize, 0, 0, 0, 0), false},
		{"chunk size huge", set(offChunkSize, 0xff, 0, 0, 0), false},
		{"meta oversized", set(offMetaLen, 0, 0x10, 0, 1), false},
		{"meta trailing", withMeta(`{"id":"d"} `), false},
		{"meta two objects", withMeta(`{"id":"d"}{}`), false},
		{"meta unknown field", withMeta(`{"id":"d","x":1}`), false},
		{"meta not json", withMeta(`nope`), false},
		{"meta minimal", withMeta(`{"id":"d"}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(bytes.NewReader(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseHeader(%s) error = %v; want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrFormat) {
				t.Errorf("ParseHeader(%s) = %v; want ErrFormat", tt.name, err)
			}
			if err == nil && h.Meta.ID != "d" {
				t.Errorf("ParseHeader(%s).Meta.ID = %q; want %q", tt.name, h.Meta.ID, "d")
			}
		})
	}
}

func TestEncryptOptions(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		meta Meta
	}{
		{"short key", make([]byte, 31), Meta{ID: "x"}},
		{"chunk too small", make([]byte, 32), Meta{ID: "x", ChunkSize: MinChunkSize - 1}},
		{"chunk too large", make([]byte, 32), Meta{ID: "x", ChunkSize: MaxChunkSize + 1}},
		{"meta too large", make([]byte, 32), Meta{ID: string(bytes.Repeat([]byte("a"), MaxMetaSize))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encrypt(io.Discard, bytes.NewReader(nil), tt.key, tt.meta); err == nil {
				t.Errorf("Encrypt(%s) = nil error; want an error", tt.name)
			}
		})
	}
}

func TestPublishFetch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := DirStore{Dir: dir}
	key := testKey(t, 3)
	pt := bytes.Repeat([]byte("row,1,2\n"), 5000)
	d, err := Publish(ctx, s, "bank-a.cfds", bytes.NewReader(pt), key, Meta{ID: "bank-a", ChunkSize: 4096})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "bank-a.cfds"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("row,1,2")) {
		t.Errorf("published object contains plaintext")
	}
	if got := sha256Sum(raw); got != d {
		t.Errorf("Publish() digest = %x; want SHA-256 of stored object %x", d, got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("store directory has %d entries; want 1 (no temporary files left)", len(entries))
	}
	var out bytes.Buffer
	if _, err := Fetch(ctx, s, "bank-a.cfds", d, &out, key); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !bytes.Equal(out.Bytes(), pt) {
		t.Errorf("Fetch() plaintext differs")
	}
	t.Run("wrong digest", func(t *testing.T) {
		bad := d
		bad[0] ^= 1
		if _, err := Fetch(ctx, s, "bank-a.cfds", bad, io.Discard, key); !errors.Is(err, ErrDigest) {
			t.Errorf("Fetch(wrong digest) = %v; want ErrDigest", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := Fetch(ctx, s, "nope", d, io.Discard, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Fetch(missing) = %v; want ErrNotFound", err)
		}
	})
	for _, name := range []string{"", "../x", "a/b", ".hidden", "a b"} {
		t.Run("bad name "+name, func(t *testing.T) {
			if err := s.Put(ctx, name, bytes.NewReader(nil)); !errors.Is(err, ErrName) {
				t.Errorf("Put(%q) = %v; want ErrName", name, err)
			}
		})
	}
	t.Run("failed put leaves old object", func(t *testing.T) {
		err := s.Put(ctx, "bank-a.cfds", io.MultiReader(bytes.NewReader([]byte("partial")), errReader{}))
		if err == nil {
			t.Fatal("Put(failing reader) = nil; want error")
		}
		now, _ := os.ReadFile(filepath.Join(dir, "bank-a.cfds"))
		if !bytes.Equal(now, raw) {
			t.Errorf("object changed after a failed Put")
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func sha256Sum(b []byte) Digest {
	var d Digest
	h := newSHA()
	h.Write(b)
	h.Sum(d[:0])
	return d
}

func FuzzDecrypt(f *testing.F) {
	key := bytes.Repeat([]byte{9}, KeySize)
	for _, pt := range [][]byte{nil, []byte("id,time,from,to\n1,2,A-1,B-2\n"), bytes.Repeat([]byte{'x'}, 100)} {
		f.Add(seal(f, pt, key, Meta{ID: "bank-a", Schema: []Column{{Name: "id", Type: "string"}}, ChunkSize: 32}))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		m, err := Decrypt(&out, bytes.NewReader(in), key)
		if err != nil {
			return
		}
		// Anything that decrypts must re-encrypt and decrypt to the same plaintext.
		ct := seal(t, out.Bytes(), key, *m)
		var again bytes.Buffer
		if _, err := Decrypt(&again, bytes.NewReader(ct), key); err != nil || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("re-encrypted stream does not round-trip: %v", err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	key := bytes.Repeat([]byte{9}, KeySize)
	f.Add(seal(f, []byte("x"), key, Meta{ID: "bank-b", Schema: []Column{{Name: "amount", Type: "int"}}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHeader(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(h.Raw) > len(in) || !bytes.Equal(h.Raw, in[:len(h.Raw)]) {
			t.Fatalf("ParseHeader().Raw is not a prefix of the input")
		}
		if h.Meta.ChunkSize < MinChunkSize || h.Meta.ChunkSize > MaxChunkSize {
			t.Fatalf("ParseHeader() accepted chunk size %d", h.Meta.ChunkSize)
		}
	})
}

const benchSize = 4 << 20

func BenchmarkEncrypt(b *testing.B) {
	pt := make([]byte, benchSize)
	key := testKey(b, 1)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := Encrypt(io.Discard, bytes.NewReader(pt), key, Meta{ID: "x"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	pt := make([]byte, benchSize)
	key := testKey(b, 1)
	ct := seal(b, pt, key, Meta{ID: "x"})
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := Decrypt(io.Discard, bytes.NewReader(ct), key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawGCM is the baseline: AES-256-GCM sealing the same bytes in
// DefaultChunkSize pieces with no framing, header or key derivation.
func BenchmarkRawGCM(b *testing.B) {
	pt := make([]byte, benchSize)
	block, _ := aes.NewCipher(testKey(b, 1))
	g, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	out := make([]byte, 0, DefaultChunkSize+tagSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		for off := 0; off < len(pt); off += DefaultChunkSize {
			binary.BigEndian.PutUint32(nonce[8:], uint32(off))
			out = g.Seal(out[:0], nonce, pt[off:off+DefaultChunkSize], nil)
		}
	}
}

// TestLayout decodes a stream by the spec's offsets and opens its chunks
// with an independently derived key, nonce and additional data.
func TestLayout(t *testing.T) {
	key := testKey(t, 5)
	pt := []byte("0123456789abcdef0123456789abcdefXYZ") // 2 full chunks of 16 + 3 bytes
	ct := seal(t, pt, key, Meta{ID: "layout", ChunkSize: 16})
	if string(ct[0:4]) != "CFDS" || ct[4] != 1 || ct[5] != 0 || ct[6] != 0 || ct[7] != 0 {
		t.Fatalf("header starts % x; want CFDS 01 00 0000", ct[:8])
	}
	if cs := binary.BigEndian.Uint32(ct[8:12]); cs != 16 {
		t.Fatalf("chunk size = %d; want 16", cs)
	}
	m := binary.BigEndian.Uint32(ct[36:40])
	hdr := ct[:40+m]
	if string(hdr[40:]) != `{"id":"layout"}` {
		t.Errorf("metadata = %s; want {\"id\":\"layout\"}", hdr[40:])
	}
	k, err := hkdf.Key(sha256.New, key, ct[12:28], "confide-cleanroom-dataset-v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(block)
	hh := sha256.Sum256(hdr)
	rest := ct[len(hdr):]
	var got []byte
	for i, size := range []int{16, 16, 3} {
		nonce := append(bytes.Clone(ct[28:36]), 0, 0, 0, byte(i))
		ad := append(hh[:], 0, 0, 0, 0, 0, 0, 0, byte(i), 0)
		if i == 2 {
			ad[len(ad)-1] = 1
		}
		n := size + 16
		p, err := g.Open(nil, nonce, rest[:n], ad)
		if err != nil {
			t.Fatalf("chunk %d does not open with the spec's key, nonce and AD: %v", i, err)
		}
		got = append(got, p...)
		rest = rest[n:]
	}
	if len(rest) != 0 || !bytes.Equal(got, pt) {
		t.Errorf("decoded %q with %d bytes left; want %q and none", got, len(rest), pt)
	}
}
