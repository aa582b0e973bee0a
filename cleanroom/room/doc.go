// Package room is the clean-room enclave: the program that runs a signed
// contract's job over the parties' encrypted datasets, and the host side
// that loads it.
//
// Inside the enclave (Ecalls, served by the confide binary as a built-in
// enclave) the run verifies the contract's signatures, makes two ephemeral
// P-256 keys, binds them and the contract hash into its evidence through
// MAA-shaped runtime data, attests to the attestation service over TLS
// that ends inside the enclave, obtains each dataset's data key from the
// key broker wrapped to its ephemeral key, streams each dataset's
// ciphertext in through ocalls and decrypts it inside, runs the job,
// applies the output policy, and hands out each party's release sealed to
// that party's key and signed with the ephemeral signing key.
//
// The host side (Run) only relays: stored ciphertext in, TLS bytes to and
// from the service, sealed outputs out. A party checks its output with
// VerifyOutput or Open. The interface is room.edl (bindings in roomcall);
// the protocol is specified in spec/cleanroom.md, "Clean-room enclave".
package room
