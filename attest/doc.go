// Package attest defines the claims that verified evidence yields, the
// policy that appraises them, and the errors shared by the per-TEE
// verifiers in attest/sgx and attest/tdx.
//
// Evidence goes through three steps with three types: a pure parser turns
// bytes into a structure (sgx.ParseQuote), a verifier checks signatures,
// chains and collateral and produces Claims, and a Policy appraises Claims.
package attest
