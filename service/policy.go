package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Attestation types accepted by POST /attest/{type}.
const (
	TypeSgxEnclave  = "SgxEnclave"
	TypeOpenEnclave = "OpenEnclave"
	TypeTdxVm       = "TdxVm"
)

var attestationTypes = map[string]bool{TypeSgxEnclave: true, TypeOpenEnclave: true, TypeTdxVm: true}

// DefaultPolicy is the appraisal policy each attestation type has until an
// administrator sets another. Policies are Rego modules in package
// "policy"; input is the token's claims (MAA names); "deny" is a set of
// messages, each a reason to refuse; "claims" is an optional object of
// extra claims to add to the token. Simulated evidence is refused by the
// service itself unless it runs with AllowSimulated.
const DefaultPolicy = `package policy

deny contains "evidence is debuggable (x-ms-sgx-is-debuggable)" if input["x-ms-sgx-is-debuggable"] == true

deny contains "trust domain is debuggable (tdx_td_attributes_debug)" if input["tdx_td_attributes_debug"] == true

deny contains msg if {
	input["x-confide-tcb-status"] == "Revoked"
	msg := "platform TCB is revoked"
}
`

// Decision is the result of evaluating a policy.
type Decision struct {
	// Reasons are the deny messages, sorted; empty means allowed.
	Reasons []string
	// Claims are extra claims the policy issues.
	Claims map[string]any
}

// policyCache holds prepared Rego queries keyed by the SHA-256 of the
// module text, so each policy is compiled once.
type policyCache struct {
	mu sync.Mutex
	m  map[[32]byte]*compiledPolicy
}

// compiledPolicy is a policy ready to evaluate.
type compiledPolicy struct {
	q rego.PreparedEvalQuery
	// hash is the base64url SHA-256 of the module text (the token's
	// x-ms-policy-hash).
	hash string
}

// compile returns the prepared query for text, compiling it on first use.
func (c *policyCache) compile(ctx context.Context, text string) (*compiledPolicy, error) {
	h := sha256.Sum256([]byte(text))
	c.mu.Lock()
	p, ok := c.m[h]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	pq, err := rego.New(
		rego.Query("data.policy"),
		rego.Module("policy.rego", text),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	p = &compiledPolicy{q: pq, hash: b64.EncodeToString(h[:])}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[[32]byte]*compiledPolicy)
	}
	if len(c.m) > 256 { // bounded: drop everything rather than grow forever
		clear(c.m)
	}
	c.m[h] = p
	c.mu.Unlock()
	return p, nil
}

// policyInput converts input (claims as JSON-shaped Go values: maps with
// string keys, slices, strings, numbers, booleans, nil) to the Rego value
// the policy sees, without a round trip through JSON text.
func policyInput(input map[string]any) (ast.Value, error) {
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, fmt.Errorf("%w: input: %v", ErrPolicy, err)
	}
	return v, nil
}

// eval evaluates the policy against input.
func (p *compiledPolicy) eval(ctx context.Context, input map[string]any) (*Decision, error) {
	in, err := policyInput(input)
	if err != nil {
		return nil, err
	}
	rs, err := p.q.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return nil, fmt.Errorf("%w: evaluation: %v", ErrPolicy, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%w: module must declare package policy", ErrPolicy)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: data.policy is not an object", ErrPolicy)
	}
	d := &Decision{}
	if raw, ok := obj["deny"]; ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: deny must be a set of strings", ErrPolicy)
		}
		for _, m := range list {
			s, ok := m.(string)
			if !ok {
				return nil, fmt.Errorf("%w: deny must be a set of strings", ErrPolicy)
			}
			d.Reasons = append(d.Reasons, s)
		}
		sort.Strings(d.Reasons)
	}
	if raw, ok := obj["claims"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: claims must be an object", ErrPolicy)
		}
		d.Claims = m
	}
	return d, nil
}

// eval evaluates the policy text against input.
func (c *policyCache) eval(ctx context.Context, text string, input map[string]any) (*Decision, error) {
	p, err := c.compile(ctx, text)
	if err != nil {
		return nil, err
	}
	return p.eval(ctx, input)
}
