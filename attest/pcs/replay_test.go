package pcs_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/pcs"
	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/internal/vectors"
	"github.com/confide-dev/confide/tee/sim"
)

// recordedPCS serves one vector's collateral in the PCS v4 shape, as
// Intel's service answers: signed bodies {"tcbInfo": …, "signature": hex},
// issuer chains as percent-encoded PEM headers, the PCK CRL as DER. It
// answers only the query it expects (the platform's FMSPC and PCK CA) and
// records the paths asked for.
type recordedPCS struct {
	c          *attest.Collateral
	tee        string // "sgx" or "tdx"
	fmspc, ca  string
	mu         sync.Mutex
	paths      []string
	badQueries []string
}

func (p *recordedPCS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	q := r.URL.Query()
	signed := func(field string, body, sig, chain []byte, header string) {
		w.Header().Set(header, url.PathEscape(string(chain)))
		fmt.Fprintf(w, `{"%s":%s,"signature":"%s"}`, field, body, hex.EncodeToString(sig))
	}
	switch r.URL.Path {
	case "/" + p.tee + "/certification/v4/tcb":
		if q.Get("fmspc") != p.fmspc {
			p.bad(w, r)
			return
		}
		signed("tcbInfo", p.c.TCBInfo, p.c.TCBInfoSignature, p.c.TCBInfoIssuerChain, "TCB-Info-Issuer-Chain")
	case "/" + p.tee + "/certification/v4/qe/identity":
		signed("enclaveIdentity", p.c.QEIdentity, p.c.QEIdentitySignature, p.c.QEIdentityIssuerChain, "SGX-Enclave-Identity-Issuer-Chain")
	case "/sgx/certification/v4/pckcrl":
		if q.Get("ca") != p.ca || q.Get("encoding") != "der" {
			p.bad(w, r)
			return
		}
		w.Header().Set("SGX-PCK-CRL-Issuer-Chain", url.PathEscape(string(p.c.PCKCRLIssuerChain)))
		w.Write(p.c.PCKCRL)
	case "/sgx/certification/v4/rootcacrl":
		// Intel PCS serves the root CA CRL as hex text.
		fmt.Fprint(w, hex.EncodeToString(p.c.RootCACRL))
	default:
		p.bad(w, r)
	}
}

func (p *recordedPCS) bad(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.badQueries = append(p.badQueries, r.URL.String())
	p.mu.Unlock()
	http.Error(w, "not found", http.StatusNotFound)
}

// manifestEntry is the part of ../shared/vectors/manifest.json used here.
type manifestEntry struct {
	ID          string   `json:"id"`
	PinnedTime  string   `json:"pinned_time"`
	TCBStatus   string   `json:"tcb_status"`
	AdvisoryIDs []string `json:"advisory_ids"`
	Fields      struct {
		FMSPC string `json:"fmspc"`
		PCKCA string `json:"pck_ca"`
	} `json:"fields"`
}

func manifest(t *testing.T, id string) manifestEntry {
	t.Helper()
	var m struct{ Vectors []manifestEntry }
	if err := json.Unmarshal(vectors.Read(t, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Vectors {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("manifest.json has no vector %s", id)
	return manifestEntry{}
}

// TestRecordedPCS fetches the real SGX and TDX collateral of the vectors
// through the PCS v4 paths and headers and verifies the real quotes with it
// at their pinned times: the results must be those manifest.json lists,
// which also shows the signed bodies were cut out byte for byte.
func TestRecordedPCS(t *testing.T) {
	tests := []struct {
		id, kind, tee, quote, coll string
		paths                      []string
		// cachedUntil is the earliest nextUpdate in the collateral files:
		// the QE identity's for SGX, the PCK CRL's for TDX.
		cachedUntil string
	}{
		{"sgx-dcap-qvl", "SgxEnclave", "sgx", "sgx/dcap-qvl-sgx-quote.bin", "sgx/dcap-qvl-sgx-collateral.json",
			[]string{"/sgx/certification/v4/tcb", "/sgx/certification/v4/qe/identity", "/sgx/certification/v4/pckcrl", "/sgx/certification/v4/rootcacrl"},
			"2025-07-19T10:01:18Z"},
		{"tdx-dcap-qvl", "TdxVm", "tdx", "tdx/dcap-qvl-tdx-quote.bin", "tdx/dcap-qvl-tdx-collateral.json",
			[]string{"/tdx/certification/v4/tcb", "/tdx/certification/v4/qe/identity", "/sgx/certification/v4/pckcrl", "/sgx/certification/v4/rootcacrl"},
			"2025-07-19T10:00:35Z"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			m := manifest(t, tt.id)
			c, err := attest.ParseCollateralJSON(vectors.Read(t, tt.coll))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordedPCS{c: c, tee: tt.tee, fmspc: m.Fields.FMSPC, ca: strings.ToLower(m.Fields.PCKCA)}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			when, err := time.Parse(time.RFC3339, m.PinnedTime)
			if err != nil {
				t.Fatal(err)
			}
			g, err := pcs.New(srv.URL+"/", pcs.Options{Now: func() time.Time { return when }})
			if err != nil {
				t.Fatal(err)
			}
			o := verifier.Options{}
			o.SGX.Getter, o.TDX.Getter = g, g
			o.SGX.Now = func() time.Time { return when }
			o.TDX.Now = o.SGX.Now
			claims, err := verifier.New(o).Verify(context.Background(), tt.kind, vectors.Read(t, tt.quote))
			if err != nil {
				t.Fatalf("Verify with PCS collateral: %v (unexpected requests %v)", err, rec.badQueries)
			}
			if string(claims.TCBStatus) != m.TCBStatus || !slices.Equal(claims.AdvisoryIDs, m.AdvisoryIDs) || !claims.RevocationChecked {
				t.Errorf("claims: %s %v revocation_checked=%v; manifest: %s %v, checked", claims.TCBStatus, claims.AdvisoryIDs, claims.RevocationChecked, m.TCBStatus, m.AdvisoryIDs)
			}
			if !slices.Equal(rec.paths, tt.paths) || len(rec.badQueries) > 0 {
				t.Errorf("requests %v (unexpected: %v); want %v", rec.paths, rec.badQueries, tt.paths)
			}

			// Cached until the earliest nextUpdate; from then on fetched
			// again each time (the server still has only this collateral).
			until, _ := time.Parse(time.RFC3339, tt.cachedUntil)
			fmspc, _ := hex.DecodeString(m.Fields.FMSPC)
			for _, step := range []struct {
				at       time.Time
				requests int
			}{{until.Add(-time.Second), len(tt.paths)}, {until, 2 * len(tt.paths)}, {until.Add(time.Hour), 3 * len(tt.paths)}} {
				when = step.at
				if _, err := g.Collateral(context.Background(), attest.TEE(tt.tee), fmspc, rec.ca); err != nil {
					t.Fatalf("Collateral at %v: %v", when, err)
				}
				if len(rec.paths) != step.requests {
					t.Errorf("at %v: %d requests in all; want %d", when, len(rec.paths), step.requests)
				}
			}
		})
	}
}

// TestTimeout: a PCS that does not answer in time is a missing-collateral
// error, both through the client's timeout and the caller's context.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	fmspc := []byte{0, 0xA0, 0x67, 0x11, 0, 0}
	g, err := pcs.New(srv.URL, pcs.Options{HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Collateral(context.Background(), attest.SGX, fmspc, "processor"); !errors.Is(err, attest.ErrCollateralMissing) {
		t.Errorf("client timeout: %v; want ErrCollateralMissing", err)
	}
	g, err = pcs.New(srv.URL, pcs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.Collateral(ctx, attest.SGX, fmspc, "processor"); !errors.Is(err, attest.ErrCollateralMissing) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v; want ErrCollateralMissing and DeadlineExceeded", err)
	}
}

// TestConcurrentMiss: callers that miss the cache together share one
// fetch. A caller whose context ends gets its own error; when it was the
// one fetching, the callers waiting on it fetch again rather than fail.
func TestConcurrentMiss(t *testing.T) {
	for _, impatientFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("impatient caller first: %v", impatientFirst), func(t *testing.T) {
			st, err := sim.Init(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var served atomic.Int32
			gate := make(chan struct{})
			abandoned := make(chan struct{}, 1)
			h := sim.PCSHandler(st)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-gate:
				case <-r.Context().Done():
					abandoned <- struct{}{}
					return
				}
				served.Add(1)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			g, err := pcs.New(srv.URL, pcs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			fmspc := []byte{0xC0, 0xF1, 0xDE, 0, 0, 0}
			ctx, cancel := context.WithCancel(context.Background())
			impatient := make(chan error, 1)
			startImpatient := func() {
				go func() {
					_, err := g.Collateral(ctx, attest.SGX, fmspc, "processor")
					impatient <- err
				}()
				time.Sleep(20 * time.Millisecond)
			}
			if impatientFirst {
				startImpatient()
			}
			const n = 16
			type result struct {
				c   *attest.Collateral
				err error
			}
			results := make(chan result, n)
			for range n {
				go func() {
					c, err := g.Collateral(context.Background(), attest.SGX, fmspc, "processor")
					results <- result{c, err}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			if !impatientFirst {
				startImpatient()
			}
			cancel()
			if err := <-impatient; !errors.Is(err, context.Canceled) || !errors.Is(err, attest.ErrCollateralMissing) {
				t.Errorf("caller that gave up: %v; want ErrCollateralMissing and context.Canceled", err)
			}
			if impatientFirst {
				<-abandoned // its request is gone before the others are let through
			}
			close(gate)
			var first *attest.Collateral
			for range n {
				r := <-results
				if r.err != nil {
					t.Fatalf("Collateral: %v", r.err)
				}
				if first == nil {
					first = r.c
				} else if r.c != first {
					t.Error("callers got different collateral values from one fetch")
				}
			}
			if served.Load() != 4 {
				t.Errorf("%d concurrent callers were served %d responses; want 4 (one fetch)", n, served.Load())
			}
		})
	}
}
