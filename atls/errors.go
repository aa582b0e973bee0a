package atls

import "errors"

// Errors that callers branch on with errors.Is. Malformed evidence matches
// attest.ErrMalformed; failures of the evidence itself match the attest
// verification classes (attest.ErrSignature, attest.ErrChain, …); a refusal
// by the appraisal matches attest.ErrPolicy.
var (
	// ErrNoEvidence is matched when the peer's certificate carries no
	// evidence extension, the connection closed before its evidence, or a
	// server asks Client.Handshake for an attested certificate and the
	// client has no Identity.
	ErrNoEvidence = errors.New("atls: no evidence")
	// ErrKeyBinding is matched when evidence does not bind the
	// certificate's public key: the claims name another key, the report
	// data is not the hash of the claims, or the connection evidence comes
	// from another enclave than the certificate's.
	ErrKeyBinding = errors.New("atls: evidence does not bind the certificate key")
	// ErrReplay is matched when the connection evidence was not made for
	// this connection: its nonce is not this connection's exporter value.
	ErrReplay = errors.New("atls: evidence was made for another connection")
)
