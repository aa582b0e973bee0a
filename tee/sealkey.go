package tee

// ExactSealKeyer is implemented by platforms that can derive a seal key for
// exactly the security version in the request, zero included. (In
// Platform.SealKey a zero KeyRequest.SecurityVersion means "the enclave's
// own".) Package seal uses it so that an enclave at security version N > 0
// can open blobs sealed at version 0. The same rules apply as for SealKey:
// the version must not exceed the enclave's own.
type ExactSealKeyer interface {
	SealKeyExact(req KeyRequest) ([]byte, error)
}
