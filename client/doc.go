// Package client talks to a confide attestation service and key broker
// (confide serve): it fetches nonces, sends evidence for a token, asks for
// keys and secrets to be released, and unwraps released material with the
// private key whose public half the token carries.
package client
