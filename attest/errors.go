package attest

import "errors"

// Classes of verification failure. Verifiers wrap them with context;
// callers branch with errors.Is.
var (
	// ErrMalformed is matched when evidence or collateral cannot be parsed:
	// truncated, oversized, inconsistent lengths, non-zero reserved fields
	// or non-zero trailing bytes.
	ErrMalformed = errors.New("attest: malformed")
	// ErrSignature is matched when a signature in the evidence or the
	// collateral does not verify, or a binding between its parts (the QE
	// report data over the attestation key) does not hold.
	ErrSignature = errors.New("attest: signature does not verify")
	// ErrChain is matched when a certificate chain does not lead to a
	// trusted root, or a certificate is outside its validity.
	ErrChain = errors.New("attest: certificate chain does not verify")
	// ErrRevoked is matched when a CRL lists a certificate of the chain.
	ErrRevoked = errors.New("attest: certificate revoked")
	// ErrCollateral is matched by every collateral failure below.
	ErrCollateral = errors.New("attest: collateral")
	// ErrCollateralMissing is matched when no collateral was available. The
	// verifier still returns the claims it could check (signatures and
	// chain), without a TCB status.
	ErrCollateralMissing = &classError{"attest: collateral missing", ErrCollateral}
	// ErrCollateralExpired is matched when the verification time is after
	// the collateral's nextUpdate.
	ErrCollateralExpired = &classError{"attest: collateral expired", ErrCollateral}
	// ErrCollateralNotYetValid is matched when the verification time is
	// before the collateral's issue date.
	ErrCollateralNotYetValid = &classError{"attest: collateral not yet valid", ErrCollateral}
	// ErrTCBLevel is matched when no TCB level of the TCB info matches the
	// platform, or the quoting enclave's identity does not match. The
	// verifier still returns the claims.
	ErrTCBLevel = errors.New("attest: no matching TCB level")
	// ErrPolicy is matched when verified claims fail a policy rule.
	ErrPolicy = errors.New("attest: policy not satisfied")
	// ErrDebug is matched when a policy refuses debug evidence; it also
	// matches ErrPolicy.
	ErrDebug = &classError{"attest: debug enclave not allowed", ErrPolicy}
)

// classError is a sentinel that also matches a broader sentinel.
type classError struct {
	msg    string
	parent error
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.parent }
