// Package sqlenclave is the enclave of the confidential SQL server
// (aesql/server): it attests with an X25519 key bound into its evidence,
// opens the key packages clients seal to that key, keeps each session's
// column encryption keys, decrypts columns of randomized cells into an
// in-enclave cache, and evaluates predicates (=, <>, <, <=, >, >=,
// BETWEEN, IN, LIKE) and orderings (ORDER BY, GROUP BY) over whole
// columns, one ecall per predicate; for indexed columns it assigns the
// order-preserving ranks the server stores and answers comparisons as
// ranges of them. Only match bitmaps, ranks and rank ranges leave the
// enclave, never a plaintext value or key.
//
// The confide binary serves it as the built-in enclave with product ID
// internal/builtin.ProductSQL; spec/aesql.md §5 describes the protocol.
package sqlenclave
