package service

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/confide-dev/confide/attest"
)

// TestPolicyInputIsJSON checks that the policy input built straight from
// the token claims is the value their JSON encoding parses to, for SGX and
// TDX claims with runtime and init-time data.
func TestPolicyInputIsJSON(t *testing.T) {
	sgx := &attest.Claims{
		TEE: attest.SGX, UniqueID: bytes.Repeat([]byte{1}, 32), SignerID: bytes.Repeat([]byte{2}, 32),
		ProductID: 3, SecurityVersion: 4, ReportData: make([]byte, 64), TCBStatus: attest.UpToDate,
		AdvisoryIDs: []string{"INTEL-SA-1"}, ConfigID: []byte{5}, ConfigSVN: 6, ExtendedProductID: []byte{7}, FamilyID: []byte{8},
		Debug: true, Simulated: true,
	}
	tdx := &attest.Claims{TEE: attest.TDX, ReportData: make([]byte, 64), TCBStatus: attest.OutOfDate, TDX: &attest.TDXClaims{
		MRTD: []byte{1}, MRConfigID: []byte{2}, MROwner: []byte{3}, MROwnerCfg: []byte{4}, MRSeam: []byte{5},
		MRSignerSeam: []byte{6}, TDAttributes: []byte{7}, XFAM: []byte{8}, TEETCBSVN: []byte{9},
	}}
	var runtime any
	if err := json.Unmarshal([]byte(`{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}],"n":1e21,"f":0.5,"i":-3,"z":null,"b":false}`), &runtime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    map[string]any
	}{
		{"sgx", tokenClaims(TypeSgxEnclave, sgx, []byte("rt"), runtime, map[string]any{"a": "b"})},
		{"sgx without data", tokenClaims(TypeSgxEnclave, sgx, nil, nil, nil)},
		{"tdx", tokenClaims(TypeTdxVm, tdx, nil, runtime, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policyInput(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("policyInput(claims) = %v; want %v (the claims' JSON)", got, want)
			}
		})
	}
}
