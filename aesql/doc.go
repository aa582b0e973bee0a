// Package aesql implements the client-side cryptography of SQL Server
// Always Encrypted: the AEAD_AES_256_CBC_HMAC_SHA256 cell format, byte for
// byte as SQL Server and Microsoft.Data.SqlClient produce it, and the
// plaintext normalisation rules SQL Server applies to typed values before
// they are encrypted.
//
// A column encryption key (CEK) is 32 random bytes. NewKey derives the
// encryption, MAC and IV sub-keys from it once; Key.Encrypt and Key.Decrypt
// then produce and open cells:
//
//	cell = 0x01 ‖ HMAC-SHA-256 tag (32) ‖ IV (16) ‖ AES-256-CBC ciphertext
//
// Deterministic encryption derives the IV from the plaintext, so equal
// plaintexts give equal cells (which is what lets SQL Server compare them);
// randomized encryption draws the IV from crypto/rand.
//
// Column master keys, the wrapped CEK value format and the key stores live
// in package aesql/keystore; the Always Encrypted DDL parser lives in
// package aesql/ddl. The formats are written down in spec/aesql.md.
package aesql
