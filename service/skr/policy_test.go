package skr

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A policy in the shape of the Azure Key Vault SKR documentation examples.
const samplePolicy = `{
  "version": "1.0.0",
  "anyOf": [
    {
      "authority": "https://sharedeus.eus.attest.azure.net/",
      "allOf": [
        {"claim": "x-ms-attestation-type", "equals": "sgx"},
        {"claim": "x-ms-sgx-mrsigner", "equals": "AB12"},
        {"anyOf": [{"claim": "x-ms-sgx-is-debuggable", "equals": false}, {"claim": "x-ms-runtime.mode", "equals": "lab"}]}
      ]
    }
  ]
}`

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"sample", samplePolicy, true},
		{"trailing", samplePolicy + "{}", false},
		{"unknown field", `{"version":"1.0.0","anyOf":[{"authority":"a","allOf":[{"claim":"c","equals":1}]}],"x":1}`, false},
		{"bad version", `{"version":"2","anyOf":[{"authority":"a","allOf":[{"claim":"c","equals":1}]}]}`, false},
		{"no authority", `{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"c","equals":1}]}]}`, false},
		{"no equals", `{"version":"1.0.0","anyOf":[{"authority":"a","allOf":[{"claim":"c"}]}]}`, false},
		{"both anyOf and allOf", `{"version":"1.0.0","anyOf":[{"authority":"a","allOf":[{"claim":"c","equals":1}]}],"allOf":[{"authority":"a","allOf":[{"claim":"c","equals":1}]}]}`, false},
		{"empty", ``, false},
		{"not json", `version=1.0`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.in))
			if tc.ok && err != nil {
				t.Fatalf("ParsePolicy() = %v; want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrPolicy) {
				t.Fatalf("ParsePolicy() = %v; want ErrPolicy", err)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	p, err := ParsePolicy([]byte(samplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	const iss = "https://sharedeus.eus.attest.azure.net"
	claims := func(mut func(map[string]any)) map[string]any {
		m := map[string]any{"x-ms-attestation-type": "sgx", "x-ms-sgx-mrsigner": "ab12", "x-ms-sgx-is-debuggable": false,
			"x-ms-runtime": map[string]any{"mode": "prod"}}
		if mut != nil {
			mut(m)
		}
		return m
	}
	tests := []struct {
		name        string
		issuer      string
		claims      map[string]any
		wantReasons int
	}{
		{"granted", iss, claims(nil), 0},
		{"issuer with slash", iss + "/", claims(nil), 0},
		{"nested anyOf second arm", iss, claims(func(m map[string]any) {
			m["x-ms-sgx-is-debuggable"] = true
			m["x-ms-runtime"] = map[string]any{"mode": "lab"}
		}), 0},
		{"wrong signer", iss, claims(func(m map[string]any) { m["x-ms-sgx-mrsigner"] = "cd34" }), 1},
		{"two failures", iss, claims(func(m map[string]any) { m["x-ms-sgx-mrsigner"] = "cd34"; m["x-ms-attestation-type"] = "tdx" }), 2},
		{"missing claim", iss, claims(func(m map[string]any) { delete(m, "x-ms-attestation-type") }), 1},
		{"other issuer", "https://evil.example", claims(nil), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Evaluate(tc.issuer, tc.claims); len(got) != tc.wantReasons {
				t.Errorf("Evaluate() = %q; want %d reasons", got, tc.wantReasons)
			}
		})
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(samplePolicy))
	f.Add([]byte(`{"version":"1.0.0","allOf":[{"authority":"a","anyOf":[{"allOf":[{"claim":"c","equals":[1]}]}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePolicy(in)
		if err != nil {
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePolicy(b); err != nil {
			t.Fatalf("ParsePolicy(Marshal(ParsePolicy(%q))) = %v", in, err)
		}
		p.Evaluate("a", map[string]any{"c": 1.0})
	})
}
