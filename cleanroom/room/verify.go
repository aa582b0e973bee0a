package room

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/policy"
)

// Verifier turns evidence into verified claims (attest/verifier.Verifier
// is one; so is any service.Verifier).
type Verifier interface {
	Verify(ctx context.Context, kind string, evidence []byte) (*attest.Claims, error)
}

// VerifyOptions configure VerifyOutput.
type VerifyOptions struct {
	// Verifier verifies the output's evidence. Required.
	Verifier Verifier
	// AllowSimulated accepts evidence from a simulated platform. Zero:
	// simulated evidence is refused.
	AllowSimulated bool
}

// VerifyOutput checks that out was made for party by an enclave the
// contract allows, running contract c: the evidence verifies, its identity
// passes c's enclave policy, its report data is SHA-256 of the runtime
// data, the runtime data names c's hash, and the runtime data's signing
// key signed the sealed release. It returns the verified claims. Any
// failure matches ErrOutput.
func VerifyOutput(ctx context.Context, out *Output, c *contract.Contract, party string, o VerifyOptions) (*attest.Claims, error) {
	hash, err := c.Hash()
	if err != nil {
		return nil, err
	}
	if out.Party != party {
		return nil, fmt.Errorf("%w: output is for %q, not %q", ErrOutput, out.Party, party)
	}
	if out.ContractHash != hex.EncodeToString(hash[:]) {
		return nil, fmt.Errorf("%w: output is for another contract", ErrOutput)
	}
	claims, err := o.Verifier.Verify(ctx, "SgxEnclave", out.Quote)
	if err != nil {
		return nil, fmt.Errorf("%w: evidence: %w", ErrOutput, err)
	}
	if claims.Simulated && !o.AllowSimulated {
		return nil, fmt.Errorf("%w: evidence is simulated", ErrOutput)
	}
	if err := c.Enclave.AllowsClaims(claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	rdHash := sha256.Sum256(out.RuntimeData)
	want := append(rdHash[:], make([]byte, 32)...)
	if subtle.ConstantTimeCompare(claims.ReportData, want) != 1 {
		return nil, fmt.Errorf("%w: report data does not bind the runtime data", ErrOutput)
	}
	rd, sigKey, err := parseRuntimeData(out.RuntimeData)
	if err != nil {
		return nil, err
	}
	if rd.ContractHash != out.ContractHash {
		return nil, fmt.Errorf("%w: evidence is bound to another contract", ErrOutput)
	}
	d := sha256.Sum256(SignedOutputMessage(hash, party, out.Sealed))
	if !ecdsa.VerifyASN1(sigKey, d[:], out.Signature) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrOutput)
	}
	return claims, nil
}

// Open verifies out (VerifyOutput) and opens its sealed release with the
// party's result key.
func Open(ctx context.Context, out *Output, c *contract.Contract, party string, priv *ecdh.PrivateKey, o VerifyOptions) (*policy.Release, *attest.Claims, error) {
	claims, err := VerifyOutput(ctx, out, c, party, o)
	if err != nil {
		return nil, nil, err
	}
	rel, err := policy.Open(out.Sealed, priv, c)
	if err != nil {
		return nil, nil, err
	}
	if rel.Party != party {
		return nil, nil, fmt.Errorf("%w: release names %q", ErrOutput, rel.Party)
	}
	return rel, claims, nil
}

// SecretValue encodes a data key as the key broker secret value the
// enclave expects: standard base64.
func SecretValue(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ReleasePolicy returns the Rego release policy (service content type
// application/rego) for a dataset key of contract c: the key is released
// only on a token for a non-debug enclave with the contract's signer and
// product, a security version at least the contract's minimum, whose
// runtime data names c's hash. Absent claims fail every rule.
func ReleasePolicy(c *contract.Contract) (string, error) {
	hash, err := c.Hash()
	if err != nil {
		return "", err
	}
	if _, err := hex.DecodeString(c.Enclave.SignerID); err != nil || len(c.Enclave.SignerID) != 64 {
		return "", fmt.Errorf("room: contract signer_id is not 32 bytes of hex")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "package policy\n\n")
	fmt.Fprintf(&b, "deny contains \"enclave signer is not the contract's\" if not lower(input[\"x-ms-sgx-mrsigner\"]) == %q\n", strings.ToLower(c.Enclave.SignerID))
	fmt.Fprintf(&b, "deny contains \"enclave product is not the contract's\" if not input[\"x-ms-sgx-product-id\"] == %d\n", c.Enclave.ProductID)
	fmt.Fprintf(&b, "deny contains \"enclave security version below the contract's minimum\" if not input[\"x-ms-sgx-svn\"] >= %d\n", c.Enclave.MinSecurityVersion)
	fmt.Fprintf(&b, "deny contains \"debuggable enclave\" if not input[\"x-ms-sgx-is-debuggable\"] == false\n")
	fmt.Fprintf(&b, "deny contains \"token is not bound to the contract\" if not input[\"x-ms-runtime\"].contract_hash == %q\n", hex.EncodeToString(hash[:]))
	return b.String(), nil
}

// SecretName is the conventional key broker secret name of a dataset's
// data key for one contract revision: "<id>-r<revision>-<dataset>".
func SecretName(c *contract.Contract, datasetID string) string {
	return fmt.Sprintf("%s-r%d-%s", c.ID, c.Revision, datasetID)
}
