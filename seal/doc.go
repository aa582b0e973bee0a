// Package seal encrypts data so that only the same enclave (by
// measurement) or the same signer's product (by signer and product ID) on
// the same platform can decrypt it, with security-version rollback
// protection: an enclave opens blobs sealed by itself or by older versions,
// never blobs sealed by newer ones.
//
// A sealed blob is versioned and self-describing (see spec/seal.md): magic,
// format version, key policy, the ISVSVN and CPUSVN the key was derived
// for, a random KEYID and nonce, then AES-256-GCM ciphertext whose
// additional data is the header followed by the caller's additional data.
// The AES key is derived with HKDF-SHA-256 from the platform's seal key
// (tee.Platform.SealKey) and zeroed after use.
package seal
