// Package keystore holds Always Encrypted column master keys (CMKs) and
// wraps column encryption keys (CEKs) under them, in SQL Server's formats.
//
// A KeyStore is what SQL Server calls a column master key store provider.
// FileStore keeps RSA private keys in PEM files; the confide key broker can
// be a second implementation. A wrapped CEK is the ENCRYPTED_VALUE of
// CREATE COLUMN ENCRYPTION KEY:
//
//	0x01 ‖ key path length (2, LE) ‖ ciphertext length (2, LE) ‖
//	key path (UTF-16LE) ‖ RSA-OAEP-SHA1 ciphertext ‖
//	RSA PKCS#1 v1.5 SHA-256 signature over everything before it
//
// ParseEncryptedCEK and EncryptedCEK.Marshal handle the byte format without
// any cryptography; the stores sign, verify, wrap and unwrap. CMK metadata
// signatures (the ENCLAVE_COMPUTATIONS SIGNATURE of CREATE COLUMN MASTER
// KEY) follow SqlClient's certificate store provider: an RSA PKCS#1 v1.5
// SHA-256 signature over the UTF-16LE encoding of the lowercased
// concatenation of provider name, key path and "true" or "false".
// The formats are written down in spec/aesql.md.
package keystore
