package service

import (
	"errors"
	"fmt"
)

// Sentinel errors. Handlers map them to HTTP statuses; callers of the Go API
// check them with errors.Is.
var (
	// ErrBadRequest is matched by malformed requests.
	ErrBadRequest = errors.New("service: bad request")
	// ErrUnauthorized is matched when an admin credential is missing or wrong.
	ErrUnauthorized = errors.New("service: unauthorized")
	// ErrNotFound is matched when a key, secret or policy does not exist.
	ErrNotFound = errors.New("service: not found")
	// ErrNonce is matched when a nonce is unknown, used or expired.
	ErrNonce = errors.New("service: nonce is unknown, used or expired")
	// ErrRuntimeData is matched when the runtime data does not hash into the
	// evidence's report data.
	ErrRuntimeData = errors.New("service: runtime data does not match report data")
	// ErrEvidence is matched when the Verifier rejected the evidence.
	ErrEvidence = errors.New("service: evidence did not verify")
	// ErrPolicyDenied is matched when a policy refused the request.
	ErrPolicyDenied = errors.New("service: policy denied")
	// ErrPolicy is matched when a policy does not parse or compile.
	ErrPolicy = errors.New("service: invalid policy")
	// ErrToken is matched when a token does not verify, has expired or
	// comes from an untrusted issuer.
	ErrToken = errors.New("service: token did not verify")
	// ErrAPIVersion is matched when the api-version is missing or unsupported.
	ErrAPIVersion = errors.New("service: unsupported api-version")
	// ErrTooLarge is matched when a request body exceeds the cap.
	ErrTooLarge = errors.New("service: request body too large")
)

// DeniedError lists every reason a policy gave for refusing.
type DeniedError struct {
	// Reasons are the deny messages, in the policy's order.
	Reasons []string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("service: policy denied: %d rule(s) failed", len(e.Reasons))
}

// Unwrap returns ErrPolicyDenied.
func (e *DeniedError) Unwrap() error { return ErrPolicyDenied }

// badRequest wraps ErrBadRequest with detail.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}
