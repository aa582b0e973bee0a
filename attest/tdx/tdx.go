package tdx

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/internal/dcap"
)

// TD report offsets (Intel TDX DCAP Quoting Library API, TD Quote Body).
const (
	offTEETCBSVN    = 0
	offMRSeam       = 16
	offMRSignerSeam = 64
	offSeamAttr     = 112
	offTDAttr       = 120
	offXFAM         = 128
	offMRTD         = 136
	offMRConfigID   = 184
	offMROwner      = 232
	offMROwnerCfg   = 280
	offRTMR0        = 328
	offReportData   = 520
	offTEETCBSVN2   = 584 // TD report 1.5
	offMRServiceTD  = 600 // TD report 1.5
)

// tdAttrDebug is TD_ATTRIBUTES.DEBUG (bit 0).
const tdAttrDebug = 0x01

// Report is a TD report (quote body).
type Report struct {
	TEETCBSVN    [16]byte
	MRSeam       [48]byte
	MRSignerSeam [48]byte
	SeamAttr     [8]byte
	TDAttributes [8]byte
	XFAM         [8]byte
	MRTD         [48]byte
	MRConfigID   [48]byte
	MROwner      [48]byte
	MROwnerCfg   [48]byte
	RTMR         [4][48]byte
	ReportData   [64]byte
	// TEETCBSVN2 and MRServiceTD are set for TD report 1.5 bodies.
	TEETCBSVN2  [16]byte
	MRServiceTD [48]byte
}

// Debug reports whether the TD is debuggable (TD_ATTRIBUTES.DEBUG).
func (r *Report) Debug() bool { return r.TDAttributes[0]&tdAttrDebug != 0 }

// Quote is a parsed TDX quote. Nothing in it is verified.
type Quote struct {
	// Version is 4 or 5.
	Version uint16
	// Report is the TD report.
	Report Report
	// Padding counts the zero bytes that followed the quote.
	Padding int

	q *dcap.Quote
}

// ParseQuote parses a TDX DCAP quote, version 4 or 5. Zero bytes after the
// quote are accepted and counted in Padding; any other trailing byte, a
// truncated or oversized quote, or an SGX quote is ErrMalformed. It is pure.
func ParseQuote(b []byte) (*Quote, error) {
	q, err := dcap.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("tdx: %w", err)
	}
	if q.BodyType == dcap.BodySGX {
		return nil, fmt.Errorf("tdx: %w: an SGX quote (use attest/sgx)", attest.ErrMalformed)
	}
	if err := dcap.CheckSGXBodyReserved(q.QEReport); err != nil {
		return nil, fmt.Errorf("tdx: QE report: %w", err)
	}
	b = q.Body
	var r Report
	copy(r.TEETCBSVN[:], b[offTEETCBSVN:])
	copy(r.MRSeam[:], b[offMRSeam:])
	copy(r.MRSignerSeam[:], b[offMRSignerSeam:])
	copy(r.SeamAttr[:], b[offSeamAttr:])
	copy(r.TDAttributes[:], b[offTDAttr:])
	copy(r.XFAM[:], b[offXFAM:])
	copy(r.MRTD[:], b[offMRTD:])
	copy(r.MRConfigID[:], b[offMRConfigID:])
	copy(r.MROwner[:], b[offMROwner:])
	copy(r.MROwnerCfg[:], b[offMROwnerCfg:])
	for i := range r.RTMR {
		copy(r.RTMR[i][:], b[offRTMR0+48*i:])
	}
	copy(r.ReportData[:], b[offReportData:])
	if q.BodyType == dcap.BodyTD15 {
		copy(r.TEETCBSVN2[:], b[offTEETCBSVN2:])
		copy(r.MRServiceTD[:], b[offMRServiceTD:])
	}
	return &Quote{Version: q.Version, Report: r, Padding: q.Padding, q: q}, nil
}

// Options configure Verify; they mean what attest/sgx.Options mean.
type Options struct {
	// Now returns the verification time. Nil means time.Now.
	Now func() time.Time
	// Roots are the trusted roots. Nil means Intel's SGX Root CA.
	Roots []*x509.Certificate
	// SimulatedRoots are roots trusted for simulated evidence.
	SimulatedRoots []*x509.Certificate
	// Getter supplies TDX collateral. Nil means none.
	Getter attest.Getter
	// Cache keeps verified chains and collateral (NewCache). Nil means
	// everything is checked every time.
	Cache *Cache
}

// Cache keeps verified certificate chains and collateral. It is the same
// type as attest/sgx.Cache: one Cache may serve both packages.
type Cache = dcap.Cache

// NewCache returns a cache of at most max verified chain-and-collateral
// sets (0 means 1024).
func NewCache(max int) *Cache { return dcap.NewCache(max) }

// Verify verifies a TDX quote and returns its claims. On
// ErrCollateralMissing and ErrTCBLevel the claims are returned with the
// error.
func Verify(ctx context.Context, quote []byte, opts Options) (*attest.Claims, error) {
	q, err := ParseQuote(quote)
	if err != nil {
		return nil, err
	}
	return q.Verify(ctx, opts)
}

// Verify verifies the parsed quote q (see the package function Verify).
func (q *Quote) Verify(ctx context.Context, opts Options) (*attest.Claims, error) {
	r := &q.Report
	m := &dcap.TDXMatch{TEETCBSVN: r.TEETCBSVN, MRSignerSeam: r.MRSignerSeam[:], SeamAttributes: r.SeamAttr[:]}
	if q.q.BodyType == dcap.BodyTD15 {
		m.TEETCBSVN2 = &r.TEETCBSVN2
	}
	res, err := dcap.Verify(ctx, q.q, attest.TDX, m, dcap.Resolve(opts.Now, opts.Roots, opts.SimulatedRoots, opts.Getter, opts.Cache))
	if res == nil {
		return nil, fmt.Errorf("tdx: %w", err)
	}
	td := &attest.TDXClaims{
		MRTD: attest.Hex(r.MRTD[:]), MRConfigID: attest.Hex(r.MRConfigID[:]), MROwner: attest.Hex(r.MROwner[:]),
		MROwnerCfg: attest.Hex(r.MROwnerCfg[:]), MRSignerSeam: attest.Hex(r.MRSignerSeam[:]), MRSeam: attest.Hex(r.MRSeam[:]),
		TDAttributes: attest.Hex(r.TDAttributes[:]), XFAM: attest.Hex(r.XFAM[:]), TEETCBSVN: attest.Hex(r.TEETCBSVN[:]),
		ModuleID: res.ModuleID, ModuleStatus: res.ModuleStatus,
	}
	for i := range r.RTMR {
		td.RTMR[i] = attest.Hex(r.RTMR[i][:])
	}
	if q.q.BodyType == dcap.BodyTD15 {
		td.TEETCBSVN2 = attest.Hex(r.TEETCBSVN2[:])
		td.MRServiceTD = attest.Hex(r.MRServiceTD[:])
	}
	c := &attest.Claims{
		TEE:        attest.TDX,
		UniqueID:   attest.Hex(r.MRTD[:]),
		Debug:      r.Debug(),
		Attributes: attest.Hex(r.TDAttributes[:]),
		ReportData: attest.Hex(r.ReportData[:]),
		TDX:        td,
	}
	res.Fill(c)
	return dcap.Finish("tdx", c, err)
}
