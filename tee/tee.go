// Package tee is the one interface to what the hardware gives an enclave:
// a report for a target enclave, a quote for a remote verifier, a seal key,
// and platform information.
//
// Implementations: tee/sim (a software SGX, the default), tee/gramine
// (Gramine's /dev/attestation), tee/tsm (Linux configfs-tsm for SEV-SNP and
// TDX guests).
package tee

import "errors"

// Sizes of the SGX structures exchanged through Platform, from the Intel SDM
// (REPORT 432 bytes, TARGETINFO 512 bytes, REPORTDATA 64 bytes).
const (
	ReportSize     = 432
	TargetInfoSize = 512
	ReportDataSize = 64
)

// KeyPolicy selects what a seal key is bound to (SGX KEYPOLICY).
type KeyPolicy uint16

// Key policies (SGX KEYPOLICY bits).
const (
	// ByUniqueID binds the key to the enclave measurement (MRENCLAVE).
	ByUniqueID KeyPolicy = 0x0001
	// BySigner binds the key to the signer, product ID (MRSIGNER + ISVPRODID).
	BySigner KeyPolicy = 0x0002
)

// KeyRequest asks for a seal key, as SGX EGETKEY's KEYREQUEST does.
type KeyRequest struct {
	// Policy is ByUniqueID or BySigner.
	Policy KeyPolicy
	// SecurityVersion is the ISVSVN to derive for; it must not exceed the
	// calling enclave's own. Zero means the enclave's own.
	SecurityVersion uint16
	// CPUSVN is the CPU security version to derive for; zero means the
	// platform's current one. It must not exceed the current one.
	CPUSVN [16]byte
	// KeyID is a caller-chosen nonce that diversifies the key.
	KeyID [32]byte
}

// Info describes the platform.
type Info struct {
	// Name is "sim", "gramine" or "tsm".
	Name string
	// Simulated is true when evidence from this platform chains to a
	// simulated root.
	Simulated bool
	// CPUSVN is the platform's current CPU security version.
	CPUSVN [16]byte
}

// Platform is what a TEE gives the enclave running on it. Implementations
// are safe for concurrent use.
type Platform interface {
	// Info describes the platform.
	Info() Info
	// TargetInfo returns the calling enclave's own TARGETINFO, for a peer
	// enclave that wants to make a report this enclave can verify.
	TargetInfo() ([]byte, error)
	// Report returns an SGX REPORT of the calling enclave, MACed with the
	// report key of the enclave described by target (a TARGETINFO).
	Report(target []byte, reportData [ReportDataSize]byte) ([]byte, error)
	// VerifyReport checks that report was made on this platform for the
	// calling enclave (local attestation).
	VerifyReport(report []byte) error
	// Quote returns remotely verifiable evidence binding reportData.
	Quote(reportData [ReportDataSize]byte) ([]byte, error)
	// SealKey returns a 16-byte seal key for req.
	SealKey(req KeyRequest) ([]byte, error)
}

// Errors returned by platforms.
var (
	// ErrUnsupported is returned for an operation the platform cannot do.
	ErrUnsupported = errors.New("tee: operation not supported on this platform")
	// ErrInvalidReport is returned by VerifyReport for a report that was
	// not made for this enclave on this platform.
	ErrInvalidReport = errors.New("tee: report MAC does not verify")
	// ErrKeyRequest is returned for a key request above the enclave's or
	// platform's security version.
	ErrKeyRequest = errors.New("tee: invalid key request")
)
