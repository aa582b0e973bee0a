package sgx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

// BenchmarkVerifySGXQuote verifies the dcap-qvl quote with its collateral:
// cold checks every chain, collateral signature and CRL each time; warm
// reuses the verified chain and collateral (sgx.Cache) and checks the two
// signatures specific to the quote. Compare with BenchmarkP256Verify.
func BenchmarkVerifySGXQuote(b *testing.B) {
	q := vectors.Read(b, "sgx/dcap-qvl-sgx-quote.bin")
	g := collateral(b, "sgx/dcap-qvl-sgx-collateral.json")
	for _, bc := range []struct {
		name  string
		cache *sgx.Cache
	}{{"cold", nil}, {"warm", sgx.NewCache(0)}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: g, Cache: bc.cache}
			if _, err := sgx.Verify(context.Background(), q, opts); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sgx.Verify(context.Background(), q, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkP256Verify is one ECDSA P-256 signature verification over
// SHA-256 of a quote-sized message: the unit of BenchmarkVerifySGXQuote.
func BenchmarkP256Verify(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 432)
	d := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&k.PublicKey, d[:], sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkSimQuote is the simulated platform's quote generation.
func BenchmarkSimQuote(b *testing.B) {
	st, _ := simQuote(b, testIdentity())
	p, err := st.Platform(testIdentity(), simOptionsPlatform())
	if err != nil {
		b.Fatal(err)
	}
	var rd [64]byte
	for b.Loop() {
		if _, err := p.Quote(rd); err != nil {
			b.Fatal(err)
		}
	}
}
