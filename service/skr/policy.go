package skr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrPolicy is matched when a release policy does not parse.
var ErrPolicy = errors.New("skr: invalid release policy")

// maxDepth bounds nesting of anyOf/allOf.
const maxDepth = 8

// Policy is a parsed release policy.
type Policy struct {
	// Version is "1.0.0" (or "1.0.2", the same grammar).
	Version string `json:"version"`
	// AnyOf lists authority groups; one satisfied group releases.
	AnyOf []Group `json:"anyOf,omitempty"`
	// AllOf lists authority groups that must all be satisfied.
	AllOf []Group `json:"allOf,omitempty"`
}

// Group is a set of conditions on the claims of a token from Authority.
type Group struct {
	// Authority is the issuer URL whose tokens the group accepts.
	Authority string `json:"authority"`
	// AllOf lists conditions that must all hold.
	AllOf []Condition `json:"allOf,omitempty"`
	// AnyOf lists conditions of which one must hold.
	AnyOf []Condition `json:"anyOf,omitempty"`
}

// Condition is a claim test or a nested anyOf/allOf.
type Condition struct {
	// Claim is a dot-separated path into the token's claims.
	Claim string `json:"claim,omitempty"`
	// Equals is the JSON value the claim must equal.
	Equals json.RawMessage `json:"equals,omitempty"`
	// AllOf and AnyOf nest conditions.
	AllOf []Condition `json:"allOf,omitempty"`
	AnyOf []Condition `json:"anyOf,omitempty"`
}

// ParsePolicy parses a release policy in the Key Vault JSON grammar,
// rejecting unknown fields, trailing data and empty or ambiguous clauses.
func ParsePolicy(b []byte) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrPolicy)
	}
	if p.Version != "1.0.0" && p.Version != "1.0.2" {
		return nil, fmt.Errorf("%w: version %q; want \"1.0.0\"", ErrPolicy, p.Version)
	}
	if (len(p.AnyOf) == 0) == (len(p.AllOf) == 0) {
		return nil, fmt.Errorf("%w: want exactly one of anyOf and allOf at the top", ErrPolicy)
	}
	for _, g := range append(append([]Group(nil), p.AnyOf...), p.AllOf...) {
		if g.Authority == "" {
			return nil, fmt.Errorf("%w: authority group without authority", ErrPolicy)
		}
		if (len(g.AnyOf) == 0) == (len(g.AllOf) == 0) {
			return nil, fmt.Errorf("%w: authority %s: want exactly one of anyOf and allOf", ErrPolicy, g.Authority)
		}
		for _, c := range append(append([]Condition(nil), g.AllOf...), g.AnyOf...) {
			if err := c.check(1); err != nil {
				return nil, err
			}
		}
	}
	return &p, nil
}

func (c *Condition) check(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrPolicy, maxDepth)
	}
	leaf := c.Claim != ""
	nested := len(c.AllOf) > 0 || len(c.AnyOf) > 0
	switch {
	case leaf && nested, !leaf && !nested:
		return fmt.Errorf("%w: a condition is either {claim, equals} or {anyOf|allOf}", ErrPolicy)
	case leaf && len(c.Equals) == 0:
		return fmt.Errorf("%w: claim %s has no equals", ErrPolicy, c.Claim)
	case len(c.AllOf) > 0 && len(c.AnyOf) > 0:
		return fmt.Errorf("%w: want one of anyOf and allOf", ErrPolicy)
	}
	if leaf {
		var v any
		if err := json.Unmarshal(c.Equals, &v); err != nil {
			return fmt.Errorf("%w: claim %s: %v", ErrPolicy, c.Claim, err)
		}
	}
	for i := range c.AllOf {
		if err := c.AllOf[i].check(depth + 1); err != nil {
			return err
		}
	}
	for i := range c.AnyOf {
		if err := c.AnyOf[i].check(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// Authorities returns the distinct authorities the policy names.
func (p *Policy) Authorities() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range append(append([]Group(nil), p.AnyOf...), p.AllOf...) {
		a := NormalizeAuthority(g.Authority)
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// NormalizeAuthority trims a trailing slash so "https://x/" and "https://x"
// name the same issuer.
func NormalizeAuthority(a string) string { return strings.TrimRight(a, "/") }

// Evaluate decides the policy for a verified token from issuer with claims
// (decoded JSON). It returns nil when the key may be released, otherwise
// every reason it may not.
func (p *Policy) Evaluate(issuer string, claims map[string]any) []string {
	issuer = NormalizeAuthority(issuer)
	var reasons []string
	if len(p.AnyOf) > 0 {
		matched := false
		for _, g := range p.AnyOf {
			if NormalizeAuthority(g.Authority) != issuer {
				continue
			}
			matched = true
			r := g.evaluate(claims)
			if len(r) == 0 {
				return nil
			}
			reasons = append(reasons, r...)
		}
		if !matched {
			reasons = append(reasons, fmt.Sprintf("token issuer %s is not an authority of the release policy", issuer))
		}
		return reasons
	}
	for _, g := range p.AllOf {
		if NormalizeAuthority(g.Authority) != issuer {
			reasons = append(reasons, fmt.Sprintf("release policy requires a token from %s", g.Authority))
			continue
		}
		reasons = append(reasons, g.evaluate(claims)...)
	}
	return reasons
}

func (g *Group) evaluate(claims map[string]any) []string {
	c := Condition{AllOf: g.AllOf, AnyOf: g.AnyOf}
	return c.evaluate(claims)
}

func (c *Condition) evaluate(claims map[string]any) []string {
	if c.Claim != "" {
		got, ok := lookup(claims, c.Claim)
		var want any
		json.Unmarshal(c.Equals, &want) // checked by ParsePolicy
		if !ok {
			return []string{fmt.Sprintf("claim %s is absent; want %s", c.Claim, c.Equals)}
		}
		if !equal(got, want) {
			g, _ := json.Marshal(got)
			return []string{fmt.Sprintf("claim %s = %s; want %s", c.Claim, g, c.Equals)}
		}
		return nil
	}
	var reasons []string
	if len(c.AllOf) > 0 {
		for i := range c.AllOf {
			reasons = append(reasons, c.AllOf[i].evaluate(claims)...)
		}
		return reasons
	}
	for i := range c.AnyOf {
		r := c.AnyOf[i].evaluate(claims)
		if len(r) == 0 {
			return nil
		}
		reasons = append(reasons, r...)
	}
	return []string{"none of: " + strings.Join(reasons, "; ")}
}

// equal compares JSON values; strings compare case-insensitively when both
// look like hex digests (Key Vault compares measurements that way) and
// exactly otherwise.
func equal(got, want any) bool {
	gs, ok1 := got.(string)
	ws, ok2 := want.(string)
	if ok1 && ok2 {
		if isHex(gs) && isHex(ws) {
			return strings.EqualFold(gs, ws)
		}
		return gs == ws
	}
	return reflect.DeepEqual(got, want)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// lookup follows a dot path ("x-ms-runtime.keys") into nested objects.
func lookup(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
