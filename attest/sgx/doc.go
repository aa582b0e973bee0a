// Package sgx parses and verifies Intel SGX DCAP quotes (versions 3, 4 and 5,
// ECDSA-256 attestation key, PCK certificate chain) and turns them into
// attest.Claims.
//
// ParseQuote is pure. Verify checks, in order: the PCK certificate chain to
// a trusted root (Intel's SGX Root CA unless Options.Roots says otherwise,
// or a simulated root the caller opted into, whose claims then say
// simulated), the QE report signature by the PCK key, the QE report data's
// binding of the attestation key, the quote signature, and, with collateral
// from Options.Getter, the TCB info and QE identity (chains to the same
// root, signatures, validity at Options.Now), the CRLs, the QE identity and
// the TCB level. TCB status and advisories are data in the claims; an
// attest.Policy decides what to accept. Without collateral (no Getter, or
// none for the platform) every signature and the chain are still checked,
// and Verify returns the claims without a TCB status together with
// attest.ErrCollateralMissing; likewise the claims come with
// attest.ErrTCBLevel when no TCB level matches. spec/evidence.md has the
// details.
package sgx
