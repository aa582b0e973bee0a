package dcap

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/confide-dev/confide/attest"
)

// Resolve fills in the zero values of the public verifier options shared
// by attest/sgx and attest/tdx: now nil means time.Now, roots nil means
// Intel's SGX Root CA.
func Resolve(now func() time.Time, roots, simulated []*x509.Certificate, g attest.Getter, c *Cache) Options {
	if now == nil {
		now = time.Now
	}
	if roots == nil {
		roots = DefaultRoots()
	}
	return Options{Now: now(), Roots: roots, Simulated: simulated, Getter: g, Cache: c}
}

// Fill copies what the verification established into c (TCB status,
// advisories, collateral facts, simulation); the per-TEE packages fill in
// the report body's fields.
func (r *Result) Fill(c *attest.Claims) {
	c.TCBStatus, c.AdvisoryIDs, c.TCBDate, c.QEStatus = r.TCBStatus, r.AdvisoryIDs, r.TCBDate, r.QEStatus
	c.CollateralExpiry, c.RevocationChecked = r.CollateralExpiry, r.RevocationChecked
	c.FMSPC, c.Simulated = attest.Hex(r.FMSPC), r.Simulated
	if c.AdvisoryIDs == nil {
		c.AdvisoryIDs = []string{}
	}
}

// Finish returns a verifier's result: claims travel with an error only
// when it is ErrCollateralMissing or ErrTCBLevel (the signatures and chain
// held); errors are prefixed with pkg.
func Finish(pkg string, c *attest.Claims, err error) (*attest.Claims, error) {
	if err == nil {
		return c, nil
	}
	err = fmt.Errorf("%s: %w", pkg, err)
	if !errors.Is(err, attest.ErrCollateralMissing) && !errors.Is(err, attest.ErrTCBLevel) {
		return nil, err
	}
	return c, err
}
