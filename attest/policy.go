package attest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy is an appraisal policy as plain data. The zero Policy accepts any
// non-debug, non-simulated evidence whose TCB status is UpToDate or
// SWHardeningNeeded. It is loaded from JSON with the field names below.
type Policy struct {
	// UniqueID, if set, is the only accepted measurement (MRENCLAVE, or
	// MRTD for TDX).
	UniqueID Hex `json:"unique_id,omitempty"`
	// SignerID, if set, is the only accepted signer (MRSIGNER).
	SignerID Hex `json:"signer_id,omitempty"`
	// ProductID, if set, is the only accepted product ID.
	ProductID *uint16 `json:"product_id,omitempty"`
	// MinSecurityVersion is the lowest accepted security version.
	MinSecurityVersion uint16 `json:"min_security_version,omitempty"`
	// AllowDebug accepts debug enclaves and TDs. Zero: refused.
	AllowDebug bool `json:"allow_debug,omitempty"`
	// TCBStatuses are the accepted TCB statuses. Nil (absent from JSON):
	// UpToDate and SWHardeningNeeded; empty: none.
	TCBStatuses []TCBStatus `json:"tcb_statuses,omitzero"`
	// AllowedAdvisories, if not nil, lists the only advisory IDs that may
	// apply; any other refuses the evidence. Nil (absent from JSON): any;
	// empty: none.
	AllowedAdvisories []string `json:"allowed_advisories,omitzero"`
	// AllowSimulated accepts simulated evidence. Zero: refused.
	AllowSimulated bool `json:"allow_simulated,omitempty"`
	// ReportData, if set, must equal the start of the evidence's report
	// data (all 64 bytes when it is 64 bytes long).
	ReportData Hex `json:"report_data,omitempty"`
	// RequireRevocationChecked refuses claims made without CRLs.
	RequireRevocationChecked bool `json:"require_revocation_checked,omitempty"`
}

// DefaultTCBStatuses returns the statuses a Policy accepts when TCBStatuses
// is nil: UpToDate and SWHardeningNeeded.
func DefaultTCBStatuses() []TCBStatus { return []TCBStatus{UpToDate, SWHardeningNeeded} }

// PolicyError says which rule refused the claims. It matches ErrPolicy,
// and ErrDebug for the debug rule.
type PolicyError struct {
	// Rule is the failed rule: "unique_id", "signer_id", "product_id",
	// "min_security_version", "debug", "tcb_status", "advisories",
	// "simulated", "report_data" or "revocation_checked".
	Rule string
	// Detail explains the failure.
	Detail string
}

func (e *PolicyError) Error() string { return "attest: policy: " + e.Rule + ": " + e.Detail }

// Is makes a *PolicyError match ErrPolicy, and ErrDebug for the debug rule.
func (e *PolicyError) Is(target error) bool {
	return target == ErrPolicy || (target == ErrDebug && e.Rule == "debug")
}

// Check appraises c. It returns nil when every rule holds, or an error
// joining a *PolicyError for each rule that failed.
func (p Policy) Check(c *Claims) error {
	if c == nil {
		return &PolicyError{"claims", "no claims"}
	}
	var errs []error
	fail := func(rule, format string, args ...any) {
		errs = append(errs, &PolicyError{Rule: rule, Detail: fmt.Sprintf(format, args...)})
	}
	if len(p.UniqueID) > 0 && subtle.ConstantTimeCompare(p.UniqueID, c.UniqueID) != 1 {
		fail("unique_id", "measurement %s is not %s", c.UniqueID, p.UniqueID)
	}
	if len(p.SignerID) > 0 && subtle.ConstantTimeCompare(p.SignerID, c.SignerID) != 1 {
		fail("signer_id", "signer %s is not %s", c.SignerID, p.SignerID)
	}
	if p.ProductID != nil && c.ProductID != *p.ProductID {
		fail("product_id", "product ID %d is not %d", c.ProductID, *p.ProductID)
	}
	if c.SecurityVersion < p.MinSecurityVersion {
		fail("min_security_version", "security version %d is below %d", c.SecurityVersion, p.MinSecurityVersion)
	}
	if c.Debug && !p.AllowDebug {
		fail("debug", "the enclave is debuggable")
	}
	if c.Simulated && !p.AllowSimulated {
		fail("simulated", "the evidence is simulated")
	}
	statuses := p.TCBStatuses
	if statuses == nil {
		statuses = DefaultTCBStatuses()
	}
	if !slices.Contains(statuses, c.TCBStatus) {
		st := string(c.TCBStatus)
		if st == "" {
			st = "not computed (no collateral)"
		}
		fail("tcb_status", "TCB status %s is not one of %v", st, statuses)
	}
	if p.AllowedAdvisories != nil {
		var extra []string
		for _, a := range c.AdvisoryIDs {
			if !slices.Contains(p.AllowedAdvisories, a) {
				extra = append(extra, a)
			}
		}
		if len(extra) > 0 {
			fail("advisories", "advisories %s are not allowed", strings.Join(extra, ", "))
		}
	}
	if len(p.ReportData) > 0 && (len(p.ReportData) > len(c.ReportData) || subtle.ConstantTimeCompare(p.ReportData, c.ReportData[:len(p.ReportData)]) != 1) {
		fail("report_data", "report data does not start with the expected %d bytes", len(p.ReportData))
	}
	if p.RequireRevocationChecked && !c.RevocationChecked {
		fail("revocation_checked", "no CRLs were checked")
	}
	return errors.Join(errs...)
}

// ParsePolicy parses a policy from JSON, refusing unknown fields and
// trailing data.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%w: policy of %d bytes", ErrMalformed, len(b))
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: policy: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: policy: trailing data", ErrMalformed)
	}
	return &p, nil
}

// FailedRules lists the rules of the policy errors in err.
func FailedRules(err error) []string {
	var rules []string
	var walk func(error)
	walk = func(e error) {
		var pe *PolicyError
		if errors.As(e, &pe) && e == error(pe) {
			rules = append(rules, pe.Rule)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return rules
}
