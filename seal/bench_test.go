package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide-dev/confide/tee"
)

const benchSize = 1 << 20

func hkdfKey(t testing.TB, sk, salt []byte) []byte {
	k, err := hkdf.Key(sha256.New, sk, salt, "confide seal v1 aes-256-gcm", 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// BenchmarkAESGCM1MiB is the baseline: raw AES-256-GCM sealing of 1 MiB
// with a fresh output buffer, the key already expanded.
func BenchmarkAESGCM1MiB(b *testing.B) {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, benchSize)
	nonce := make([]byte, 12)
	b.SetBytes(benchSize)
	for b.Loop() {
		out := make([]byte, 0, len(pt)+16)
		g.Seal(out, nonce, pt, nil)
	}
}

func BenchmarkSeal1MiB(b *testing.B) {
	p := platform(b, filepath.Join(b.TempDir(), "sim"), ident(1, 1, 1, 1))
	pt := make([]byte, benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := Seal(p, tee.ByUniqueID, pt, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1MiB(b *testing.B) {
	p := platform(b, filepath.Join(b.TempDir(), "sim"), ident(1, 1, 1, 1))
	blob := mustSeal(b, p, tee.ByUniqueID, make([]byte, benchSize), nil)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := Open(p, blob, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAESGCMOpen1MiB is the baseline for BenchmarkOpen1MiB: raw
// AES-256-GCM opening of 1 MiB into a fresh buffer.
func BenchmarkAESGCMOpen1MiB(b *testing.B) {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	nonce := make([]byte, 12)
	ct := g.Seal(nil, nonce, make([]byte, benchSize), nil)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := g.Open(nil, nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealVsAESGCM1MiB alternates raw AES-256-GCM and sealing (then
// raw open and opening) on 1 MiB in one loop, each side appending into a
// reused buffer (cipher.AEAD's Seal/Open, seal's AppendSeal/AppendOpen), so
// that neither pays for garbage collection: with fresh 1 MiB buffers per
// call, whichever side runs when a GC cycle is due pays for it. It reports
// each side's time and seal/open throughput as a fraction of raw.
func BenchmarkSealVsAESGCM1MiB(b *testing.B) {
	p := platform(b, filepath.Join(b.TempDir(), "sim"), ident(1, 1, 1, 1))
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, benchSize)
	nonce := make([]byte, 12)
	ct := g.Seal(nil, nonce, pt, nil)
	blob := mustSeal(b, p, tee.ByUniqueID, pt, nil)
	rawBuf := make([]byte, 0, len(blob))
	sealBuf := make([]byte, 0, len(blob))
	var raw, sealed, rawOpen, opened time.Duration
	b.SetBytes(benchSize)
	for b.Loop() {
		t0 := time.Now()
		g.Seal(rawBuf[:0], nonce, pt, nil)
		t1 := time.Now()
		if _, err := AppendSeal(sealBuf[:0], p, tee.ByUniqueID, pt, nil); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := g.Open(rawBuf[:0], nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := AppendOpen(sealBuf[:0], p, blob, nil); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		raw, sealed, rawOpen, opened = raw+t1.Sub(t0), sealed+t2.Sub(t1), rawOpen+t3.Sub(t2), opened+t4.Sub(t3)
	}
	n := float64(b.N)
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-seal-ns/op")
	b.ReportMetric(float64(sealed.Nanoseconds())/n, "seal-ns/op")
	b.ReportMetric(float64(raw)/float64(sealed), "seal/raw-throughput")
	b.ReportMetric(float64(rawOpen)/float64(opened), "open/raw-throughput")
}
