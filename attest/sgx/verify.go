package sgx

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/internal/dcap"
)

// Options configure Verify.
type Options struct {
	// Now returns the verification time. Nil means time.Now.
	Now func() time.Time
	// Roots are the trusted roots. Nil means Intel's SGX Root CA.
	Roots []*x509.Certificate
	// SimulatedRoots are roots trusted for simulated evidence (the root
	// of a confide simulated platform); claims from them say simulated.
	// Nil means simulated evidence does not verify.
	SimulatedRoots []*x509.Certificate
	// Getter supplies collateral. Nil means none: Verify then returns the
	// claims it could check with ErrCollateralMissing.
	Getter attest.Getter
	// Cache keeps verified chains and collateral across calls. Nil means
	// everything is checked every time.
	Cache *Cache
}

// Cache keeps verified certificate chains and collateral (see NewCache).
// One Cache may serve both attest/sgx and attest/tdx.
type Cache = dcap.Cache

// NewCache returns a cache of at most max verified chain-and-collateral
// sets (0 means 1024).
func NewCache(max int) *Cache { return dcap.NewCache(max) }

// IntelRoot returns a copy of Intel's SGX Root CA certificate, the default root.
func IntelRoot() *x509.Certificate { return dcap.IntelRoot() }

// Verify verifies an SGX quote and returns its claims. On
// ErrCollateralMissing and ErrTCBLevel the claims are returned with the
// error: signatures and the chain verified, but the TCB could not be
// appraised.
func Verify(ctx context.Context, quote []byte, opts Options) (*attest.Claims, error) {
	q, err := ParseQuote(quote)
	if err != nil {
		return nil, err
	}
	return q.Verify(ctx, opts)
}

// Verify verifies the parsed quote q (see the package function Verify).
func (q *Quote) Verify(ctx context.Context, opts Options) (*attest.Claims, error) {
	res, err := dcap.Verify(ctx, q.q, attest.SGX, nil, dcap.Resolve(opts.Now, opts.Roots, opts.SimulatedRoots, opts.Getter, opts.Cache))
	if res == nil {
		return nil, fmt.Errorf("sgx: %w", err)
	}
	r := &q.Report
	c := &attest.Claims{
		TEE:               attest.SGX,
		UniqueID:          attest.Hex(r.MREnclave[:]),
		SignerID:          attest.Hex(r.MRSigner[:]),
		ProductID:         r.ProductID,
		SecurityVersion:   r.SecurityVersion,
		Debug:             r.Debug(),
		Attributes:        attest.Hex(r.Attributes[:]),
		ReportData:        attest.Hex(r.ReportData[:]),
		ExtendedProductID: attest.Hex(r.ExtendedProductID[:]),
		FamilyID:          attest.Hex(r.FamilyID[:]),
		ConfigID:          attest.Hex(r.ConfigID[:]),
		ConfigSVN:         r.ConfigSVN,
	}
	res.Fill(c)
	return dcap.Finish("sgx", c, err)
}
