package pcs_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/pcs"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee/sim"
)

// TestSimPCS verifies a simulated quote with collateral fetched from the
// simulated platform's PCS handler, and checks the cache.
func TestSimPCS(t *testing.T) {
	st, err := sim.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	h := sim.PCSHandler(st)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); h.ServeHTTP(w, r) }))
	defer srv.Close()
	now := time.Now()
	g, err := pcs.New(srv.URL, pcs.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Platform(image.Identity{ProductID: 1}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Quote([64]byte{})
	if err != nil {
		t.Fatal(err)
	}
	opts := sgx.Options{SimulatedRoots: []*x509.Certificate{st.RootCertificate()}, Getter: g}
	c, err := sgx.Verify(context.Background(), q, opts)
	if err != nil || !c.RevocationChecked || c.TCBStatus != attest.UpToDate {
		t.Fatalf("Verify with PCS collateral = %+v, %v", c, err)
	}
	first := hits.Load()
	if first != 4 {
		t.Errorf("first fetch made %d requests; want 4 (TCB info, QE identity, PCK CRL, root CA CRL)", first)
	}
	if _, err := sgx.Verify(context.Background(), q, opts); err != nil || hits.Load() != first {
		t.Errorf("second Verify: %v, %d requests; want the cache used", err, hits.Load()-first)
	}
	now = now.Add(60 * 24 * time.Hour) // past nextUpdate: fetched again
	g.Collateral(context.Background(), attest.SGX, []byte{0xC0, 0xF1, 0xDE, 0, 0, 0}, "processor")
	if hits.Load() == first {
		t.Error("collateral past its nextUpdate was not fetched again")
	}
	if _, err := g.Collateral(context.Background(), attest.SGX, []byte{1, 2, 3, 4, 5, 6}, "processor"); !errors.Is(err, attest.ErrCollateralMissing) {
		t.Errorf("unknown FMSPC = %v; want ErrCollateralMissing", err)
	}
}

func TestBadServers(t *testing.T) {
	tests := map[string]http.HandlerFunc{
		"500":       func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"no header": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"tcbInfo":{},"signature":"00"}`)) },
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("TCB-Info-Issuer-Chain", "x")
			w.Write([]byte("not json"))
		},
		"huge": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("TCB-Info-Issuer-Chain", "x")
			w.Write(make([]byte, 3<<20))
		},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			g, err := pcs.New(srv.URL, pcs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Collateral(context.Background(), attest.SGX, make([]byte, 6), "processor")
			if !errors.Is(err, attest.ErrCollateral) {
				t.Errorf("Collateral = %v; want an ErrCollateral error", err)
			}
		})
	}
	if _, err := pcs.New("ftp://x", pcs.Options{}); err == nil {
		t.Error("New(ftp://x) succeeded")
	}
}
