// Package skr holds the pieces of secure key release that both the key
// broker and its clients need: the release policy JSON grammar of Azure Key
// Vault ({version, anyOf: [{authority, allOf|anyOf: [{claim, equals}]}]}),
// evaluated over token claims with dot notation; AES key wrap with padding
// (RFC 5649); and wrapping a key to the encryption key named in an
// attestation token, CKM_RSA_AES_KEY_WRAP for RSA keys and HPKE (RFC 9180)
// for EC keys, with the matching unwrap.
package skr
