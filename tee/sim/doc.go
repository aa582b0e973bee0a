// Package sim is a software SGX platform: it makes SGX REPORTs with EREPORT
// semantics, derives seal keys with EGETKEY semantics, and produces Intel
// DCAP ECDSA-256 quotes (version 3) signed through a simulated PCK
// certificate chain.
//
// The simulated platform lives in a state directory (see Init, LoadState
// and Open): a root secret, the CPUSVN, and a complete simulated Intel PKI
// — a root CA, a PCK Processor CA, a PCK leaf certificate carrying the Intel
// SGX extension (OID 1.2.840.113741.1.13.1), a TCB signing certificate, TCB
// info (version 3), QE identity (version 2), a root CA CRL and a PCK CRL.
// These have the same formats as what Intel's Provisioning Certification
// Service serves, so one verifier checks real and simulated quotes; only the
// root differs, and every name in the simulated chain says "confide
// simulated". PCSHandler serves the collateral in the PCS v4 API shape.
//
// A Platform loads everything it needs in Open and never touches the file
// system afterwards, so it keeps working after the enclave runtime installs
// its seccomp filter.
//
// Differences from hardware, all documented in spec/sim.md: the REPORT MAC
// is HMAC-SHA-256 truncated to 16 bytes instead of AES-128-CMAC, and keys
// are derived with HKDF-SHA-256 from the root secret instead of the CPU's
// fused keys.
package sim
