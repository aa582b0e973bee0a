package image

// Config is an enclave's signed configuration, set with oesign-style
// key=value lines (see ParseConfig) and covered by the measurement.
type Config struct {
	// Debug marks a debug enclave: it may be inspected, skips the
	// dump/ptrace hardening, and says so in its identity and evidence.
	Debug bool
	// ProductID is the ISV product ID (SGX ISVPRODID).
	ProductID uint16
	// SecurityVersion is the ISV security version (SGX ISVSVN).
	SecurityVersion uint16
	// NumHeapPages is the heap limit in 4 KiB pages.
	NumHeapPages uint64
	// NumStackPages is the per-thread stack limit in 4 KiB pages.
	NumStackPages uint64
	// NumTCS is the number of ecalls that may run in the enclave at once.
	NumTCS uint32
	// ExtendedProductID is the SGX KSS ISVEXTPRODID.
	ExtendedProductID [16]byte
	// FamilyID is the SGX KSS ISVFAMILYID.
	FamilyID [16]byte
}

// Identity is who an enclave is: the SGX identity tuple.
type Identity struct {
	// UniqueID is the measurement (SGX MRENCLAVE analogue): SHA-256 over
	// the binary and the canonical config.
	UniqueID [32]byte
	// SignerID is SHA-256 of the signer's public key (for RSA, of the
	// little-endian modulus, as SGX computes MRSIGNER).
	SignerID [32]byte
	// ProductID is the ISV product ID.
	ProductID uint16
	// SecurityVersion is the ISV security version.
	SecurityVersion uint16
	// Debug reports a debug enclave.
	Debug bool
	// ExtendedProductID is the SGX KSS ISVEXTPRODID.
	ExtendedProductID [16]byte
	// FamilyID is the SGX KSS ISVFAMILYID.
	FamilyID [16]byte
}
