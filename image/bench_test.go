package image

import (
	"crypto/sha256"
	"testing"
)

// BenchmarkOpen opens a signed 4 MiB image; BenchmarkSHA256Baseline is
// the floor (hashing the same bytes once), so the difference is the
// trailer parsing and signature check.
func BenchmarkOpen(b *testing.B) {
	bin := testBinary(4 << 20)
	for _, kt := range testKeyTypes {
		signed, err := Sign(bin, DefaultConfig(), testKeys()[kt])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(signed)))
			for b.Loop() {
				if _, err := Open(signed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSHA256Baseline(b *testing.B) {
	bin := testBinary(4 << 20)
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		sha256.Sum256(bin)
	}
}
