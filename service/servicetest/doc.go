// Package servicetest provides a test double for service.Verifier, and a
// simulated platform (Sim) whose real quotes the real verifier checks.
//
// The double does NO cryptographic verification: its "evidence" is the
// JSON encoding of the attest.Claims it should return, behind a magic
// prefix. It exists so the service can be tested without real quotes; the
// real verifiers (attest/sgx, attest/tdx) replace it in production.
package servicetest
