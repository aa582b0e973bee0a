package sgx_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/vectors"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// simQuote makes a quote on a fresh simulated platform.
func simQuote(t testing.TB, id image.Identity) (*sim.State, []byte) {
	t.Helper()
	st, err := sim.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Platform(id, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rd [tee.ReportDataSize]byte
	copy(rd[:], "confide sim report data")
	q, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	return st, q
}

func simOptionsPlatform() sim.Options { return sim.Options{} }

func simOptions(st *sim.State) sgx.Options {
	return sgx.Options{SimulatedRoots: []*x509.Certificate{st.RootCertificate()}, Getter: st.Getter()}
}

func testIdentity() image.Identity {
	id := image.Identity{ProductID: 7, SecurityVersion: 3}
	copy(id.UniqueID[:], bytes.Repeat([]byte{0xAA}, 32))
	copy(id.SignerID[:], bytes.Repeat([]byte{0xBB}, 32))
	return id
}

func TestSimulatedQuote(t *testing.T) {
	id := testIdentity()
	st, q := simQuote(t, id)
	ctx := context.Background()
	c, err := sgx.Verify(ctx, q, simOptions(st))
	if err != nil {
		t.Fatalf("Verify(sim quote) = %v", err)
	}
	if !c.Simulated || !bytes.Equal(c.UniqueID, id.UniqueID[:]) || !bytes.Equal(c.SignerID, id.SignerID[:]) ||
		c.ProductID != 7 || c.SecurityVersion != 3 || c.Debug || !c.RevocationChecked || c.TCBStatus != attest.UpToDate {
		t.Errorf("claims = %+v; want the simulated identity, UpToDate, revocation checked", c)
	}
	if !bytes.HasPrefix(c.ReportData, []byte("confide sim report data")) {
		t.Errorf("report_data = %x", c.ReportData)
	}

	// Without opting in, the simulated root is not trusted.
	if _, err := sgx.Verify(ctx, q, sgx.Options{Getter: st.Getter()}); !errors.Is(err, attest.ErrChain) {
		t.Errorf("Verify(sim quote) with Intel's root = %v; want ErrChain", err)
	}

	// TCB recovery rehearsal: every status moves into the claims.
	for _, s := range sim.Statuses() {
		if s == attest.Revoked {
			continue
		}
		if err := st.SetTCBStatus(s); err != nil {
			t.Fatal(err)
		}
		c, err := sgx.Verify(ctx, q, simOptions(st))
		if err != nil || c.TCBStatus != s {
			t.Errorf("after SetTCBStatus(%s): Verify = %v, status %q", s, err, c.TCBStatus)
		}
		if s != attest.UpToDate && len(c.AdvisoryIDs) == 0 {
			t.Errorf("status %s has no advisories", s)
		}
	}

	if err := st.RevokePCK(true); err != nil {
		t.Fatal(err)
	}
	if _, err := sgx.Verify(ctx, q, simOptions(st)); !errors.Is(err, attest.ErrRevoked) {
		t.Errorf("Verify after RevokePCK = %v; want ErrRevoked", err)
	}
}

func TestSimulatedDebug(t *testing.T) {
	id := testIdentity()
	id.Debug = true
	st, q := simQuote(t, id)
	c, err := sgx.Verify(context.Background(), q, simOptions(st))
	if err != nil || !c.Debug {
		t.Fatalf("Verify(debug sim quote) = %+v, %v; want debug claims", c, err)
	}
}

// region is a byte range of a v3 quote with a PEM chain (type 5).
type region struct {
	name string
	off  int
	want error
}

func regions(q []byte) []region {
	const sd = 48 + 384 + 4
	authLen := int(binary.LittleEndian.Uint16(q[sd+64+64+384+64:]))
	auth := sd + 64 + 64 + 384 + 64 + 2
	cert := auth + authLen + 6
	return []region{
		{"header version", 0, attest.ErrMalformed},
		{"header QE SVN", 8, attest.ErrSignature},
		{"header user data", 40, attest.ErrSignature},
		{"body CPUSVN", 48, attest.ErrSignature},
		{"body MRENCLAVE", 48 + 64, attest.ErrSignature},
		{"body reserved", 48 + 100, attest.ErrMalformed},
		{"body report data", 48 + 330, attest.ErrSignature},
		{"signature data length", 48 + 384, attest.ErrMalformed},
		{"quote signature", sd + 5, attest.ErrSignature},
		{"attestation key", sd + 64 + 5, attest.ErrSignature},
		{"QE report", sd + 128 + 70, attest.ErrSignature},
		{"QE report signature", sd + 128 + 384 + 3, attest.ErrSignature},
		{"QE auth data", auth + 1, attest.ErrSignature},
		{"cert data type", auth + authLen, attest.ErrMalformed},
		{"cert data PEM header", cert + 2, attest.ErrMalformed},
	}
}

func TestFlippedBytes(t *testing.T) {
	st, simQ := simQuote(t, testIdentity())
	real := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	realOpts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json")}
	for _, ev := range []struct {
		name  string
		quote []byte
		opts  sgx.Options
	}{{"sim", simQ, simOptions(st)}, {"dcap-qvl", real, realOpts}} {
		if _, err := sgx.Verify(context.Background(), ev.quote, ev.opts); err != nil {
			t.Fatalf("%s: unmodified quote: %v", ev.name, err)
		}
		for _, r := range regions(ev.quote) {
			t.Run(ev.name+"/"+r.name, func(t *testing.T) {
				q := bytes.Clone(ev.quote)
				q[r.off] ^= 0x40
				_, err := sgx.Verify(context.Background(), q, ev.opts)
				if !errors.Is(err, r.want) {
					t.Errorf("Verify(byte %d flipped) = %v; want %v", r.off, err, r.want)
				}
			})
		}
	}
}

func TestMalformed(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	padded := append(bytes.Clone(q), make([]byte, 70)...)
	if p, err := sgx.ParseQuote(padded); err != nil || p.Padding != 70 {
		t.Fatalf("ParseQuote(quote + 70 zero bytes) = %v, padding %v; want accepted with padding 70", err, p)
	}
	tests := map[string][]byte{
		"empty":             nil,
		"truncated header":  q[:20],
		"truncated body":    q[:200],
		"truncated sigdata": q[:len(q)-1],
		"non-zero trailer":  append(bytes.Clone(q), 0, 0, 1),
		"oversized":         append(bytes.Clone(q), make([]byte, 200<<10)...),
	}
	for name, b := range tests {
		if _, err := sgx.ParseQuote(b); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParseQuote(%s) = %v; want ErrMalformed", name, err)
		}
	}
	tdx := vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin")
	if _, err := sgx.ParseQuote(tdx); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("ParseQuote(TDX quote) = %v; want ErrMalformed", err)
	}
}

func TestCollateralWindow(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	g := collateral(t, "sgx/dcap-qvl-sgx-collateral.json")
	tests := []struct {
		at   string
		want error
	}{
		{"2025-06-01T00:00:00Z", attest.ErrCollateralNotYetValid},
		{"2025-08-01T00:00:00Z", attest.ErrCollateralExpired},
		{"2051-01-01T00:00:00Z", attest.ErrChain},
	}
	for _, tt := range tests {
		_, err := sgx.Verify(context.Background(), q, sgx.Options{Now: at(tt.at), Getter: g})
		if !errors.Is(err, tt.want) {
			t.Errorf("Verify at %s = %v; want %v", tt.at, err, tt.want)
		}
	}
	// Expired collateral is also a collateral error.
	_, err := sgx.Verify(context.Background(), q, sgx.Options{Now: at("2025-08-01T00:00:00Z"), Getter: g})
	if !errors.Is(err, attest.ErrCollateral) {
		t.Errorf("expired collateral error %v does not match ErrCollateral", err)
	}
}

func TestWrongRoot(t *testing.T) {
	st, _ := simQuote(t, testIdentity())
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	_, err := sgx.Verify(context.Background(), q, sgx.Options{
		Now: at("2025-07-01T00:00:00Z"), Roots: []*x509.Certificate{st.RootCertificate()},
		Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json"),
	})
	if !errors.Is(err, attest.ErrChain) {
		t.Errorf("Verify(Intel quote, simulated root only) = %v; want ErrChain", err)
	}
	// Collateral signed under another root than the quote's.
	simColl, err := st.AttestCollateral()
	if err != nil {
		t.Fatal(err)
	}
	_, err = sgx.Verify(context.Background(), q, sgx.Options{
		Now: at("2025-07-01T00:00:00Z"), SimulatedRoots: []*x509.Certificate{st.RootCertificate()},
		Getter: attest.StaticGetter{C: simColl},
	})
	if !errors.Is(err, attest.ErrChain) {
		t.Errorf("Verify(Intel quote, simulated collateral) = %v; want ErrChain", err)
	}
}

func TestCacheWarm(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	cache := sgx.NewCache(0)
	opts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json"), Cache: cache}
	for i := range 2 {
		c, err := sgx.Verify(context.Background(), q, opts)
		if err != nil || c.TCBStatus != attest.ConfigurationAndSWHardeningNeeded {
			t.Fatalf("Verify #%d with cache = %v, %v", i, c, err)
		}
	}
	// A cached entry is not used outside its validity window.
	opts.Now = at("2025-08-01T00:00:00Z")
	if _, err := sgx.Verify(context.Background(), q, opts); !errors.Is(err, attest.ErrCollateralExpired) {
		t.Errorf("Verify with cache after expiry = %v; want ErrCollateralExpired", err)
	}
	// A tampered quote is refused even when its chain is cached.
	opts.Now = at("2025-07-01T00:00:00Z")
	bad := bytes.Clone(q)
	bad[48+64] ^= 1
	if _, err := sgx.Verify(context.Background(), bad, opts); !errors.Is(err, attest.ErrSignature) {
		t.Errorf("Verify(tampered) with cache = %v; want ErrSignature", err)
	}
}

func TestTimeInjected(t *testing.T) {
	// The simulated platform's collateral is issued now: a time long
	// before makes it not yet valid, proving Options.Now is used.
	st, q := simQuote(t, testIdentity())
	o := simOptions(st)
	o.Now = func() time.Time { return time.Now().Add(-365 * 24 * time.Hour) }
	if _, err := sgx.Verify(context.Background(), q, o); err == nil {
		t.Error("Verify a year before the simulated platform existed succeeded")
	}
}
