// Package pcs fetches DCAP collateral over HTTP in the shape of Intel's
// Provisioning Certification Service API v4, as Intel PCS, a PCCS, or
// `confide sim pcs` serve it, and caches it until its nextUpdate.
//
// For a service root URL R it requests:
//
//	R/sgx/certification/v4/tcb?fmspc=F          (R/tdx/… for TDX)  header TCB-Info-Issuer-Chain
//	R/sgx/certification/v4/qe/identity          (R/tdx/… for TDX)  header SGX-Enclave-Identity-Issuer-Chain
//	R/sgx/certification/v4/pckcrl?ca=C&encoding=der                header SGX-PCK-CRL-Issuer-Chain
//	R/sgx/certification/v4/rootcacrl                               (optional; DER or hex)
package pcs

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/internal/dcap"
)

// IntelURL is the root of Intel's PCS.
const IntelURL = "https://api.trustedservices.intel.com"

// maxBody bounds a response body.
const maxBody = 2 << 20

// Options configure a Getter.
type Options struct {
	// HTTPClient sends requests. Nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now returns the time used for cache expiry. Nil means time.Now.
	Now func() time.Time
}

// Getter fetches collateral from a PCS v4 service root and caches it until
// the earliest nextUpdate in it. It implements attest.Getter and is safe
// for concurrent use.
type Getter struct {
	root     string
	hc       *http.Client
	now      func() time.Time
	mu       sync.Mutex
	cache    map[string]entry
	inflight map[string]*fetch
}

// fetch is a request under way that callers asking for the same key wait
// for instead of sending their own.
type fetch struct {
	done chan struct{}
	c    *attest.Collateral
	err  error
}

type entry struct {
	c     *attest.Collateral
	until time.Time
}

// New returns a Getter for the service root rootURL (for example IntelURL,
// or the URL `confide sim pcs` prints).
func New(rootURL string, opts Options) (*Getter, error) {
	u, err := url.Parse(rootURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pcs: service URL %q: want http(s)://host[:port][/path]", rootURL)
	}
	g := &Getter{root: strings.TrimRight(rootURL, "/"), hc: opts.HTTPClient, now: opts.Now, cache: make(map[string]entry), inflight: make(map[string]*fetch)}
	if g.hc == nil {
		g.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

// Collateral implements attest.Getter.
func (g *Getter) Collateral(ctx context.Context, tee attest.TEE, fmspc []byte, ca string) (*attest.Collateral, error) {
	if len(fmspc) != 6 || (ca != "processor" && ca != "platform") {
		return nil, fmt.Errorf("pcs: %w: FMSPC %X, CA %q", attest.ErrCollateralMissing, fmspc, ca)
	}
	prefix := "/sgx/certification/v4"
	if tee == attest.TDX {
		prefix = "/tdx/certification/v4"
	} else if tee != attest.SGX {
		return nil, fmt.Errorf("pcs: %w: no DCAP collateral for %s", attest.ErrCollateralMissing, tee)
	}
	key := fmt.Sprintf("%s/%X/%s", tee, fmspc, ca)
	for {
		g.mu.Lock()
		if e, ok := g.cache[key]; ok && g.now().Before(e.until) {
			g.mu.Unlock()
			return e.c, nil
		}
		f, waiting := g.inflight[key]
		if !waiting {
			f = &fetch{done: make(chan struct{})}
			g.inflight[key] = f
		}
		g.mu.Unlock()
		if !waiting {
			var until time.Time
			f.c, until, f.err = g.fetch(ctx, prefix, fmspc, ca)
			g.mu.Lock()
			delete(g.inflight, key)
			if f.err == nil {
				g.cache[key] = entry{c: f.c, until: until}
			}
			g.mu.Unlock()
			close(f.done)
			return f.c, f.err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("pcs: %w: %w", attest.ErrCollateralMissing, ctx.Err())
		}
		// The request waited for failed only because its caller gave up:
		// ask again with this caller's context.
		if f.err != nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return f.c, f.err
	}
}

// fetch requests the collateral for one platform and returns it with the
// time until which it may be cached.
func (g *Getter) fetch(ctx context.Context, prefix string, fmspc []byte, ca string) (*attest.Collateral, time.Time, error) {
	c := &attest.Collateral{}
	body, chain, err := g.get(ctx, prefix+"/tcb?fmspc="+strings.ToUpper(hex.EncodeToString(fmspc)), "TCB-Info-Issuer-Chain", true)
	if err != nil {
		return nil, time.Time{}, err
	}
	if c.TCBInfo, c.TCBInfoSignature, err = attest.SplitSigned(body, "tcbInfo"); err != nil {
		return nil, time.Time{}, fmt.Errorf("pcs: %w: %w", attest.ErrCollateral, err)
	}
	c.TCBInfoIssuerChain = chain
	if body, chain, err = g.get(ctx, prefix+"/qe/identity", "SGX-Enclave-Identity-Issuer-Chain", true); err != nil {
		return nil, time.Time{}, err
	}
	if c.QEIdentity, c.QEIdentitySignature, err = attest.SplitSigned(body, "enclaveIdentity"); err != nil {
		return nil, time.Time{}, fmt.Errorf("pcs: %w: %w", attest.ErrCollateral, err)
	}
	c.QEIdentityIssuerChain = chain
	if c.PCKCRL, c.PCKCRLIssuerChain, err = g.get(ctx, "/sgx/certification/v4/pckcrl?ca="+ca+"&encoding=der", "SGX-PCK-CRL-Issuer-Chain", true); err != nil {
		return nil, time.Time{}, err
	}
	c.PCKCRL = derOrHex(c.PCKCRL)
	if body, _, err = g.get(ctx, "/sgx/certification/v4/rootcacrl", "", false); err != nil && !errors.Is(err, errNotFound) {
		return nil, time.Time{}, err
	}
	c.RootCACRL = derOrHex(body)
	until, err := expiry(c)
	if err != nil {
		return nil, time.Time{}, err
	}
	return c, until, nil
}

// derOrHex returns b decoded when it is hex text (as a PCCS serves CRLs),
// else b.
func derOrHex(b []byte) []byte {
	if d, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(d) > 0 {
		return d
	}
	return b
}

// expiry is the earliest nextUpdate of the TCB info, the QE identity and
// the CRLs: past it the verifier would refuse the collateral as expired, so
// the cache fetches it again.
func expiry(c *attest.Collateral) (time.Time, error) {
	t, err := dcap.ParseTCBInfo(c.TCBInfo)
	if err != nil {
		return time.Time{}, fmt.Errorf("pcs: %w: %w", attest.ErrCollateral, err)
	}
	q, err := dcap.ParseQEIdentity(c.QEIdentity)
	if err != nil {
		return time.Time{}, fmt.Errorf("pcs: %w: %w", attest.ErrCollateral, err)
	}
	until := t.NextUpdate
	if q.NextUpdate.Before(until) {
		until = q.NextUpdate
	}
	for _, der := range [][]byte{c.PCKCRL, c.RootCACRL} {
		if len(der) == 0 {
			continue
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return time.Time{}, fmt.Errorf("pcs: %w: %w: CRL: %v", attest.ErrCollateral, attest.ErrMalformed, err)
		}
		if !crl.NextUpdate.IsZero() && crl.NextUpdate.Before(until) {
			until = crl.NextUpdate
		}
	}
	return until, nil
}

var errNotFound = errors.New("pcs: not found")

// get fetches path and returns the body and the URL-decoded issuer chain
// header (required when header is not empty).
func (g *Getter) get(ctx context.Context, path, header string, required bool) ([]byte, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.root+path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("pcs: %w", err)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("pcs: %w: %w", attest.ErrCollateralMissing, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("pcs: %w: %s: %w", attest.ErrCollateralMissing, path, err)
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("pcs: %w: %s: response over %d bytes", attest.ErrCollateral, path, maxBody)
	}
	if resp.StatusCode == http.StatusNotFound && !required {
		return nil, nil, errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("pcs: %w: %s: %s", attest.ErrCollateralMissing, path, resp.Status)
	}
	if header == "" {
		return body, nil, nil
	}
	h := resp.Header.Get(header)
	if h == "" {
		return nil, nil, fmt.Errorf("pcs: %w: %s: no %s header", attest.ErrCollateral, path, header)
	}
	chain, err := url.PathUnescape(h)
	if err != nil {
		return nil, nil, fmt.Errorf("pcs: %w: %s: %s header: %v", attest.ErrCollateral, path, header, err)
	}
	return body, []byte(chain), nil
}
