// Package service implements the confide attestation service and key broker:
// a REST API shaped like Microsoft Azure Attestation (evidence in, signed JWT
// out, appraisal policies in Rego) and like Azure Key Vault secure key
// release (keys and secrets released only to holders of a token whose
// claims satisfy the key's release policy, wrapped to a key named in the
// token). Every attestation decision and every release is appended to a
// hash-chained audit log in the same database transaction as the action.
//
// Evidence verification is not done here: a Verifier turns evidence into
// *attest.Claims. Storage is SQLite (modernc.org/sqlite).
//
// The wire formats are described in spec/api.md.
package service
