// Package enclproto defines the messages between the confidential SQL
// server, its enclave and the client driver (spec/aesql.md §5): ecall IDs,
// the attestation binding, the session key, the sealed key package, and
// the binary encodings of column loads and predicate evaluations.
package enclproto
