package verifier_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/vectors"
	"github.com/confide-dev/confide/tee/sim"
)

func TestKinds(t *testing.T) {
	st, err := sim.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Platform(image.Identity{ProductID: 5}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Quote([64]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	v := verifier.New(verifier.WithSimulated(st.RootCertificate(), st.Getter(), nil))
	ctx := context.Background()
	for _, tt := range []struct {
		kind     string
		evidence []byte
	}{{"SgxEnclave", q}, {"OpenEnclave", verifier.OpenEnclaveReport(q)}} {
		c, err := v.Verify(ctx, tt.kind, tt.evidence)
		if err != nil || !c.Simulated || c.ProductID != 5 || c.ReportData[0] != 1 {
			t.Errorf("Verify(%s) = %+v, %v; want simulated claims of product 5", tt.kind, c, err)
		}
	}
	if _, err := v.Verify(ctx, "SevSnpVm", q); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("Verify(SevSnpVm) = %v; want ErrMalformed", err)
	}
	if _, err := v.Verify(ctx, "OpenEnclave", q); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("Verify(OpenEnclave, bare quote) = %v; want ErrMalformed", err)
	}
	// Intel-rooted evidence has no collateral source here.
	real := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	if _, err := v.Verify(ctx, "SgxEnclave", real); !errors.Is(err, attest.ErrCollateralMissing) {
		t.Errorf("Verify(Intel quote) without Intel collateral = %v; want ErrCollateralMissing", err)
	}
}

func TestTDX(t *testing.T) {
	c, err := attest.ParseCollateralJSON(vectors.Read(t, "tdx/dcap-qvl-tdx-collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	o := verifier.Options{}
	o.TDX.Getter = attest.StaticGetter{C: c}
	o.TDX.Now = func() time.Time { return when }
	claims, err := verifier.New(o).Verify(context.Background(), "TdxVm", vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin"))
	if err != nil || claims.TEE != attest.TDX || claims.TCBStatus != attest.UpToDate {
		t.Fatalf("Verify(TdxVm) = %+v, %v", claims, err)
	}
}

// TestOpenEnclaveEvidence: SGX ECDSA evidence verifies only with the custom
// claims its report data names.
func TestOpenEnclaveEvidence(t *testing.T) {
	st, err := sim.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Platform(image.Identity{ProductID: 5}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	claims := []byte("-----BEGIN PUBLIC KEY-----\nnot really\n-----END PUBLIC KEY-----\n\x00")
	var rd [64]byte
	sum := sha256.Sum256(claims)
	copy(rd[:], sum[:])
	q, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.Quote([64]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	v := verifier.New(verifier.WithSimulated(st.RootCertificate(), st.Getter(), nil))
	flipped := bytes.Clone(claims)
	flipped[0] ^= 1
	tests := []struct {
		name     string
		evidence []byte
		want     error
	}{
		{"claims named by the report data", verifier.OpenEnclaveSGXEvidence(q, claims), nil},
		{"remote report (no claims)", verifier.OpenEnclaveReport(q), nil},
		{"altered claims", verifier.OpenEnclaveSGXEvidence(q, flipped), attest.ErrSignature},
		{"claims of another quote", verifier.OpenEnclaveSGXEvidence(other, claims), attest.ErrSignature},
		{"claims cut off", verifier.OpenEnclaveSGXEvidence(q, claims[:10]), attest.ErrSignature},
		{"altered quote", verifier.OpenEnclaveSGXEvidence(flip(q, 100), claims), attest.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), "OpenEnclave", tt.evidence)
			if !errors.Is(err, tt.want) || (tt.want == nil && (c == nil || c.ProductID != 5)) {
				t.Errorf("Verify = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func TestParseOpenEnclaveMalformed(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	ev := verifier.OpenEnclaveSGXEvidence(q, []byte("claims"))
	rep := verifier.OpenEnclaveReport(q)
	set := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":                                   nil,
		"version 2":                               set(rep, 0, 2),
		"report type 1 (local)":                   set(rep, 4, 1),
		"report size too big":                     set(rep, 8, 0xff, 0xff),
		"report truncated":                        rep[:len(rep)-1],
		"report header only":                      rep[:12],
		"other format":                            set(ev, 4, 0),
		"evidence size mismatch":                  ev[:len(ev)-1],
		"evidence header only":                    ev[:31],
		"quote shorter than its signature length": verifier.OpenEnclaveSGXEvidence(q[:len(q)-1], nil),
		"quote shorter than its fixed part":       verifier.OpenEnclaveSGXEvidence(q[:435], nil),
	} {
		if _, err := verifier.ParseOpenEnclave(b); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParseOpenEnclave(%s) = %v; want ErrMalformed", name, err)
		}
	}
	e, err := verifier.ParseOpenEnclave(ev)
	if err != nil || !bytes.Equal(e.Quote, q) || string(e.CustomClaims) != "claims" {
		t.Errorf("ParseOpenEnclave(real quote + claims) = %v; want the quote and the claims back", err)
	}
}

// FuzzParseOpenEnclave: whatever parses re-encodes to the same bytes (the
// alignment padding aside), and the parts do not alias the input.
func FuzzParseOpenEnclave(f *testing.F) {
	if dir, ok := vectors.Find(); ok {
		if q, err := os.ReadFile(filepath.Join(dir, "sgx", "dcap-qvl-sgx-quote.bin")); err == nil {
			f.Add(verifier.OpenEnclaveReport(q))
			f.Add(verifier.OpenEnclaveSGXEvidence(q, []byte("claims\x00")))
		}
	}
	f.Add(verifier.OpenEnclaveSGXEvidence(make([]byte, 436), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := verifier.ParseOpenEnclave(b)
		if err != nil {
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		var again []byte
		if e.CustomClaims == nil {
			again = verifier.OpenEnclaveReport(e.Quote)
		} else {
			again = verifier.OpenEnclaveSGXEvidence(e.Quote, e.CustomClaims)
			copy(again[20:24], b[20:24])
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x; parsed %x", again, b)
		}
		if len(e.Quote) > 0 {
			before := e.Quote[0]
			for i := range b {
				b[i] ^= 0xff
			}
			if e.Quote[0] != before {
				t.Fatal("the parsed quote aliases the input")
			}
		}
	})
}

// TestOpenEnclaveEvidenceWithoutCollateral: claims returned alongside a
// missing-collateral error are still checked against the custom claims.
func TestOpenEnclaveEvidenceWithoutCollateral(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	v := verifier.New(verifier.Options{})
	// The vector's report data starts "Hello, world!", not a SHA-256.
	c, err := v.Verify(context.Background(), "OpenEnclave", verifier.OpenEnclaveSGXEvidence(q, []byte("claims")))
	if c != nil || !errors.Is(err, attest.ErrSignature) {
		t.Errorf("Verify(unbound claims, no collateral) = %v, %v; want no claims, ErrSignature", c, err)
	}
	c, err = v.Verify(context.Background(), "OpenEnclave", verifier.OpenEnclaveReport(q))
	if c == nil || !errors.Is(err, attest.ErrCollateralMissing) {
		t.Errorf("Verify(remote report, no collateral) = %v, %v; want claims and ErrCollateralMissing", c, err)
	}
}
