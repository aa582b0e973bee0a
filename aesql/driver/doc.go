// Package driver is a database/sql driver, registered as "confide-aesql",
// for the confidential SQL server (aesql/server) and any PostgreSQL-
// protocol server.
//
// With column_encryption=enabled in the DSN it works as SQL Server's
// Always Encrypted clients do: before each statement it asks the server to
// describe the statement's parameter encryption, unwraps the column
// encryption keys with the column master key store, encrypts the
// parameters bound for encrypted columns, and decrypts encrypted result
// columns. When the statement needs enclave computations (predicates on
// randomized columns) it first attests the server's enclave against an
// attest.Policy and checks that the evidence binds the enclave's session
// key; only then does it send the keys, sealed to that key and bound to
// the statement. No key leaves the client when attestation fails.
//
// DSN: a PostgreSQL URL with extra query parameters, removed before
// connecting:
//
//	column_encryption=enabled       encrypt and decrypt (default: disabled)
//	key_store=DIR                   CONFIDE_KEY_FILE column master keys in DIR
//	attestation=sim                 accept simulated evidence (sim_dir=DIR: its
//	                                simulated platform's root and collateral)
//	enclave_signer=HEX              the enclave's SignerID (required with attestation)
//	enclave_product=N               its ProductID (default 165, the SQL enclave)
//	enclave_min_svn=N               lowest security version (default 0)
//	cek_cache_ttl=DURATION          how long unwrapped CEKs are cached (default 2h)
//
// Connector configures the same from Go, with any key store and verifier.
package driver
