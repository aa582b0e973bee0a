package tdx_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/attest/tdx"
	"github.com/confide-dev/confide/internal/vectors"
)

// region is a byte of a TDX quote to change and the class of error that
// must follow.
type region struct {
	name string
	off  int
	want error
}

// regions computes, from the quote's own length fields, one offset in
// each region of a TDX quote v4 or v5 with QE report certification data
// (type 6) around a PCK chain (type 5).
func regions(q []byte) []region {
	version := binary.LittleEndian.Uint16(q)
	body := 48
	rs := []region{
		{"header version", 0, attest.ErrMalformed},
		{"header TEE type", 4, attest.ErrMalformed},
		{"header QE vendor ID", 12, attest.ErrSignature},
		{"header user data", 30, attest.ErrSignature},
	}
	bodySize := 584
	if version == 5 {
		rs = append(rs, region{"v5 body type", 48, attest.ErrMalformed}, region{"v5 body size", 50, attest.ErrMalformed})
		body = 48 + 6
		bodySize = int(binary.LittleEndian.Uint32(q[50:]))
	}
	rs = append(rs,
		region{"body TEE TCB SVN", body, attest.ErrSignature},
		region{"body MRSEAM", body + 16, attest.ErrSignature},
		region{"body TD attributes", body + 120, attest.ErrSignature},
		region{"body MRTD", body + 136, attest.ErrSignature},
		region{"body RTMR3", body + 328 + 3*48, attest.ErrSignature},
		region{"body report data", body + 520, attest.ErrSignature},
	)
	if version == 5 {
		rs = append(rs, region{"body TEE TCB SVN 2", body + 584, attest.ErrSignature}, region{"body MRSERVICETD", body + 600, attest.ErrSignature})
	}
	sd := body + bodySize + 4
	qe := sd + 64 + 64 + 6
	auth := qe + 384 + 64
	authLen := int(binary.LittleEndian.Uint16(q[auth:]))
	cert := auth + 2 + authLen
	rs = append(rs,
		region{"signature data length", body + bodySize, attest.ErrMalformed},
		region{"quote signature", sd + 7, attest.ErrSignature},
		region{"attestation key", sd + 64 + 9, attest.ErrSignature},
		region{"outer certification data type", sd + 128, attest.ErrMalformed},
		region{"outer certification data size", sd + 130, attest.ErrMalformed},
		region{"QE report CPUSVN", qe, attest.ErrSignature},
		region{"QE report MRSIGNER", qe + 128, attest.ErrSignature},
		region{"QE report reserved", qe + 100, attest.ErrMalformed},
		region{"QE report data", qe + 320, attest.ErrSignature},
		region{"QE report signature", qe + 384 + 20, attest.ErrSignature},
		region{"QE auth data", auth + 2, attest.ErrSignature},
		region{"QE auth data size", auth, attest.ErrMalformed},
		region{"cert data type", cert, attest.ErrMalformed},
		region{"cert data size", cert + 2, attest.ErrMalformed},
		region{"cert data PEM header", cert + 6 + 3, attest.ErrMalformed},
	)
	return rs
}

// TestFlippedBytes flips one byte in each region of the real TDX quotes.
// The v5 quote's TCB is below every level (ErrTCBLevel), which is only
// decided after every signature has verified: a changed byte must still
// give its own class.
func TestFlippedBytes(t *testing.T) {
	for _, ev := range []struct {
		name, quote, coll, at string
		base                  error
	}{
		{"v4", "tdx/dcap-qvl-tdx-quote.bin", "tdx/dcap-qvl-tdx-collateral.json", "2025-07-01T00:00:00Z", nil},
		{"v5", "tdx/dcap-qvl-tdx-outdated-quote.bin", "tdx/dcap-qvl-tdx-outdated-collateral.json", "2026-03-01T00:00:00Z", attest.ErrTCBLevel},
	} {
		q := vectors.Read(t, ev.quote)
		opts := tdx.Options{Now: at(ev.at), Getter: getter(t, ev.coll)}
		if _, err := tdx.Verify(context.Background(), q, opts); !errors.Is(err, ev.base) {
			t.Fatalf("%s: unmodified quote: %v; want %v", ev.name, err, ev.base)
		}
		for _, r := range regions(q) {
			t.Run(ev.name+"/"+r.name, func(t *testing.T) {
				b := bytes.Clone(q)
				b[r.off] ^= 0x40
				_, err := tdx.Verify(context.Background(), b, opts)
				if !errors.Is(err, r.want) {
					t.Errorf("Verify(byte %d flipped) = %v; want %v", r.off, err, r.want)
				}
			})
		}
	}
}

func TestMalformed(t *testing.T) {
	q := vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin") // 70 zero bytes follow the quote
	end := len(q) - 70
	tests := map[string][]byte{
		"empty":             nil,
		"truncated header":  q[:47],
		"truncated body":    q[:48+583],
		"truncated sigdata": q[:end-1],
		"non-zero trailer":  append(bytes.Clone(q), 1),
		"non-zero in padding": func() []byte {
			b := bytes.Clone(q)
			b[end+35] = 0xff
			return b
		}(),
		"oversized": append(bytes.Clone(q), make([]byte, 200<<10)...),
	}
	for name, b := range tests {
		if _, err := tdx.ParseQuote(b); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParseQuote(%s) = %v; want ErrMalformed", name, err)
		}
	}
	if p, err := tdx.ParseQuote(q[:end]); err != nil || p.Padding != 0 {
		t.Errorf("ParseQuote(quote without padding) = %v, %v; want accepted, padding 0", p, err)
	}
	if _, err := tdx.ParseQuote(vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("ParseQuote(SGX quote) = %v; want ErrMalformed", err)
	}
}

func TestCollateralWindow(t *testing.T) {
	q := vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin")
	g := getter(t, "tdx/dcap-qvl-tdx-collateral.json")
	for _, tt := range []struct {
		at   string
		want error
	}{
		{"2025-05-01T00:00:00Z", attest.ErrCollateralNotYetValid},
		{"2025-09-01T00:00:00Z", attest.ErrCollateralExpired},
		{"2040-01-01T00:00:00Z", attest.ErrChain}, // the PCK certificate has expired
	} {
		if _, err := tdx.Verify(context.Background(), q, tdx.Options{Now: at(tt.at), Getter: g}); !errors.Is(err, tt.want) {
			t.Errorf("Verify at %s = %v; want %v", tt.at, err, tt.want)
		}
	}
}

func TestWrongRootAndCollateral(t *testing.T) {
	q := vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin")
	ctx := context.Background()
	now := at("2025-07-01T00:00:00Z")
	// Trusting only another certificate (Intel's TCB signing
	// certificate, which did not issue the PCK chain) must fail.
	c, err := attest.ParseCollateralJSON(vectors.Read(t, "tdx/dcap-qvl-tdx-collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	signing := firstCert(t, c.TCBInfoIssuerChain)
	if _, err := tdx.Verify(ctx, q, tdx.Options{Now: now, Roots: []*x509.Certificate{signing}, Getter: attest.StaticGetter{C: c}}); !errors.Is(err, attest.ErrChain) {
		t.Errorf("Verify with a wrong root = %v; want ErrChain", err)
	}
	// SGX collateral for a TDX quote: signed by Intel, but the wrong kind.
	sgxColl := getter(t, "sgx/dcap-qvl-sgx-collateral.json")
	if _, err := tdx.Verify(ctx, q, tdx.Options{Now: now, Getter: sgxColl}); !errors.Is(err, attest.ErrCollateral) {
		t.Errorf("Verify with SGX collateral = %v; want ErrCollateral", err)
	}
	// Collateral for another FMSPC.
	other := getter(t, "tdx/dcap-qvl-tdx-outdated-collateral.json")
	if _, err := tdx.Verify(ctx, q, tdx.Options{Now: at("2026-03-01T00:00:00Z"), Getter: other}); !errors.Is(err, attest.ErrCollateral) {
		t.Errorf("Verify with another platform's collateral = %v; want ErrCollateral", err)
	}
	// A changed TCB info.
	c2 := *c
	c2.TCBInfo = bytes.Replace(bytes.Clone(c.TCBInfo), []byte(`"UpToDate"`), []byte(`"OutOfDate"`), 1)
	if _, err := tdx.Verify(ctx, q, tdx.Options{Now: now, Getter: attest.StaticGetter{C: &c2}}); !errors.Is(err, attest.ErrSignature) {
		t.Errorf("Verify with a changed TCB info = %v; want ErrSignature", err)
	}
	// An SGX verifier refuses the TDX quote, and a cache made by attest/sgx
	// serves attest/tdx too.
	if _, err := sgx.Verify(ctx, q, sgx.Options{Now: now}); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("sgx.Verify(TDX quote) = %v; want ErrMalformed", err)
	}
	cache := sgx.NewCache(0)
	for i := range 2 {
		cl, err := tdx.Verify(ctx, q, tdx.Options{Now: now, Getter: attest.StaticGetter{C: c}, Cache: cache})
		if err != nil || cl.TCBStatus != attest.UpToDate {
			t.Errorf("Verify #%d with cache = %v, %v", i, cl, err)
		}
	}
}

func firstCert(t *testing.T, pemChain []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemChain)
	if b == nil {
		t.Fatal("issuer chain holds no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
