package service

import (
	"context"

	"github.com/confide-dev/confide/attest"
)

// Verifier turns evidence into claims. kind is the attestation type of the
// request path ("SgxEnclave", "OpenEnclave" or "TdxVm"); evidence is the
// decoded quote (SgxEnclave, TdxVm) or report (OpenEnclave). Verify returns
// an error when the evidence does not verify; the service wraps it in
// ErrEvidence. Implementations must be safe for concurrent use.
type Verifier interface {
	Verify(ctx context.Context, kind string, evidence []byte) (*attest.Claims, error)
}
