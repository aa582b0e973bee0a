package tdx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/confide-dev/confide/attest/tdx"
	"github.com/confide-dev/confide/internal/vectors"
)

// FuzzParseQuote checks that ParseQuote never panics and that what it
// accepts verifies without panicking. Run it with -fuzzminimizetime 200x
// (see attest/sgx/fuzz_test.go).
func FuzzParseQuote(f *testing.F) {
	for _, rel := range []string{"tdx/dcap-qvl-tdx-quote.bin", "tdx/dcap-qvl-tdx-outdated-quote.bin", "tdx/trustee-debug-td-quote.bin"} {
		f.Add(vectors.Read(f, rel))
	}
	q := vectors.Read(f, "tdx/dcap-qvl-tdx-quote.bin")
	f.Add(append(bytes.Clone(q), 1))
	opts := tdx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: getter(f, "tdx/dcap-qvl-tdx-collateral.json")}
	base, err := tdx.Verify(context.Background(), q, opts)
	if err != nil {
		f.Fatal(err)
	}
	want, _ := json.Marshal(base)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tdx.ParseQuote(b)
		if err != nil {
			return
		}
		c, err := p.Verify(context.Background(), opts)
		if err == nil && c == nil {
			t.Fatal("Verify returned neither claims nor an error")
		}
		// Only the dcap-qvl quote verifies with this collateral: a changed
		// quote that still does must give its claims.
		if err == nil {
			if got, _ := json.Marshal(c); !bytes.Equal(got, want) {
				t.Fatalf("a changed quote verified with other claims: %s", got)
			}
		}
	})
}
