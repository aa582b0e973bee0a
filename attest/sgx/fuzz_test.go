package sgx_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

// The fuzz targets here verify signatures on every input the parser
// accepts (milliseconds each), so minimizing a new input for the default
// 60 s stalls the fuzzer; run them with a bounded minimization, e.g.
//
//	go test ./attest/sgx -run '^$' -fuzz '^FuzzParseQuote$' -fuzzminimizetime 200x
//
// FuzzParseQuote checks that ParseQuote never panics, and that whatever it
// accepts verifies without panicking against the real collateral. A
// changed quote that still verifies (only unsigned framing such as the
// padding or the PEM text may differ) must give the original's claims.
func FuzzParseQuote(f *testing.F) {
	q := vectors.Read(f, "sgx/dcap-qvl-sgx-quote.bin")
	f.Add(q)
	f.Add(vectors.Read(f, "sgx/trustee-occlum-debug-quote.bin"))
	f.Add(append(bytes.Clone(q), 0, 0, 0))
	f.Add(q[:500])
	g := collateral(f, "sgx/dcap-qvl-sgx-collateral.json")
	opts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: g}
	base, err := sgx.Verify(context.Background(), q, opts)
	if err != nil {
		f.Fatal(err)
	}
	want, _ := json.Marshal(base)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := sgx.ParseQuote(b)
		if err != nil {
			return
		}
		c, err := p.Verify(context.Background(), opts)
		if err == nil && c == nil {
			t.Fatal("Verify returned neither claims nor an error")
		}
		if err == nil {
			if got, _ := json.Marshal(c); !bytes.Equal(got, want) {
				t.Fatalf("a changed quote verified with other claims: %s", got)
			}
		}
	})
}

// FuzzCollateralJSON checks the collateral file parser, and that parsed
// collateral goes through verification without panicking.
func FuzzCollateralJSON(f *testing.F) {
	f.Add(vectors.Read(f, "sgx/dcap-qvl-sgx-collateral.json"))
	f.Add(vectors.Read(f, "tdx/dcap-qvl-tdx-collateral.json"))
	q := vectors.Read(f, "sgx/dcap-qvl-sgx-quote.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := attest.ParseCollateralJSON(b)
		if err != nil {
			return
		}
		_, _ = sgx.Verify(context.Background(), q, sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: attest.StaticGetter{C: c}})
	})
}

// FuzzTCBInfoSigned feeds altered TCB info and QE identity bodies signed by
// a simulated platform's key path: the verifier must refuse them without
// panicking (the signature no longer matches).
func FuzzTCBInfoSigned(f *testing.F) {
	st, q := simQuote(f, testIdentity())
	c, err := st.AttestCollateral()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.TCBInfo, c.QEIdentity)
	roots := []*x509.Certificate{st.RootCertificate()}
	f.Fuzz(func(t *testing.T, tcb, qe []byte) {
		cc := *c
		cc.TCBInfo, cc.QEIdentity = tcb, qe
		_, err := sgx.Verify(context.Background(), q, sgx.Options{SimulatedRoots: roots, Getter: attest.StaticGetter{C: &cc}})
		if err == nil && (!bytes.Equal(tcb, c.TCBInfo) || !bytes.Equal(qe, c.QEIdentity)) {
			t.Fatal("altered collateral verified")
		}
	})
}
