// Package contract defines the clean-room contract: the agreement that names
// the parties, their datasets, the job and its parameters, the output policy
// and the enclave allowed to run the job, and that every party signs.
//
// A contract's hash is SHA-256 over its canonical JSON without signatures
// (see Contract.Canonical); each party signs that hash with Ed25519 or ECDSA
// P-256. A contract is active only when Verify succeeds: it is well formed,
// every party has signed the current hash, and no one else has. Parse
// accepts only the canonical encoding, so two readers cannot disagree about
// what was signed. The format is specified in spec/cleanroom.md.
package contract
