// Package image signs and measures enclave images and reads their identity.
//
// A signed image is the enclave binary followed by a signed trailer: the
// canonical config, the signer's public key and a signature over the
// measurement. The trailer is found from the end of the file, so a signed
// ELF binary still runs. See spec/image.md for the layout.
//
// ParseConfig reads oesign-style config files. Sign signs with an
// RSA-3072, ECDSA P-256 or ECDSA P-384 key; Digest and Attach split signing
// in two steps for external signers (HSMs, "openssl pkeyutl"). Open parses
// and verifies a signed image and recomputes its Identity (the SGX tuple:
// UniqueID, SignerID as SGX MRSIGNER for RSA, ProductID, SecurityVersion,
// Debug and the KSS IDs); OpenUnsigned gives the debug identity of an
// unsigned binary. Errors match the ErrX sentinels with errors.Is.
package image
