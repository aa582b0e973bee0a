package attest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/confide-dev/confide/attest"
)

func claims() *attest.Claims {
	return &attest.Claims{
		TEE: attest.SGX, UniqueID: attest.Hex{1, 2}, SignerID: attest.Hex{3, 4}, ProductID: 7, SecurityVersion: 3,
		TCBStatus: attest.UpToDate, AdvisoryIDs: []string{}, ReportData: make(attest.Hex, 64), RevocationChecked: true,
	}
}

func TestPolicy(t *testing.T) {
	pid := uint16(7)
	other := uint16(8)
	tests := []struct {
		name   string
		p      attest.Policy
		mod    func(*attest.Claims)
		failed []string
	}{
		{"default accepts", attest.Policy{}, nil, nil},
		{"identity ok", attest.Policy{UniqueID: attest.Hex{1, 2}, SignerID: attest.Hex{3, 4}, ProductID: &pid, MinSecurityVersion: 3}, nil, nil},
		{"wrong unique id", attest.Policy{UniqueID: attest.Hex{9}}, nil, []string{"unique_id"}},
		{"wrong signer", attest.Policy{SignerID: attest.Hex{3, 5}}, nil, []string{"signer_id"}},
		{"wrong product", attest.Policy{ProductID: &other}, nil, []string{"product_id"}},
		{"svn below", attest.Policy{MinSecurityVersion: 4}, nil, []string{"min_security_version"}},
		{"debug refused", attest.Policy{}, func(c *attest.Claims) { c.Debug = true }, []string{"debug"}},
		{"debug allowed", attest.Policy{AllowDebug: true}, func(c *attest.Claims) { c.Debug = true }, nil},
		{"simulated refused", attest.Policy{}, func(c *attest.Claims) { c.Simulated = true }, []string{"simulated"}},
		{"simulated allowed", attest.Policy{AllowSimulated: true}, func(c *attest.Claims) { c.Simulated = true }, nil},
		{"sw hardening default", attest.Policy{}, func(c *attest.Claims) { c.TCBStatus = attest.SWHardeningNeeded }, nil},
		{"out of date", attest.Policy{}, func(c *attest.Claims) { c.TCBStatus = attest.OutOfDate }, []string{"tcb_status"}},
		{"no status", attest.Policy{}, func(c *attest.Claims) { c.TCBStatus = "" }, []string{"tcb_status"}},
		{"config accepted", attest.Policy{TCBStatuses: []attest.TCBStatus{attest.ConfigurationNeeded}}, func(c *attest.Claims) { c.TCBStatus = attest.ConfigurationNeeded }, nil},
		{"no advisories allowed", attest.Policy{AllowedAdvisories: []string{}}, func(c *attest.Claims) { c.AdvisoryIDs = []string{"INTEL-SA-00615"} }, []string{"advisories"}},
		{"no advisories allowed, none apply", attest.Policy{AllowedAdvisories: []string{}}, nil, nil},
		{"no status accepted", attest.Policy{TCBStatuses: []attest.TCBStatus{}}, nil, []string{"tcb_status"}},
		{"advisory refused", attest.Policy{AllowedAdvisories: []string{"INTEL-SA-00289"}}, func(c *attest.Claims) { c.AdvisoryIDs = []string{"INTEL-SA-00289", "INTEL-SA-00615"} }, []string{"advisories"}},
		{"report data", attest.Policy{ReportData: attest.Hex{0, 0}}, nil, nil},
		{"report data mismatch", attest.Policy{ReportData: attest.Hex{1}}, nil, []string{"report_data"}},
		{"revocation", attest.Policy{RequireRevocationChecked: true}, func(c *attest.Claims) { c.RevocationChecked = false }, []string{"revocation_checked"}},
		{"several", attest.Policy{MinSecurityVersion: 9}, func(c *attest.Claims) { c.Debug = true }, []string{"min_security_version", "debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims()
			if tt.mod != nil {
				tt.mod(c)
			}
			err := tt.p.Check(c)
			if got := attest.FailedRules(err); !slices.Equal(got, tt.failed) {
				t.Fatalf("Check = %v (rules %v); want rules %v", err, got, tt.failed)
			}
			if tt.failed != nil && !errors.Is(err, attest.ErrPolicy) {
				t.Errorf("Check error %v does not match ErrPolicy", err)
			}
			if errors.Is(err, attest.ErrDebug) != slices.Contains(tt.failed, "debug") {
				t.Errorf("errors.Is(%v, ErrDebug) wrong", err)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := attest.ParsePolicy([]byte(`{"signer_id":"0304","product_id":7,"tcb_statuses":["UpToDate"],"allow_simulated":true}`))
	if err != nil || p.ProductID == nil || *p.ProductID != 7 || !p.AllowSimulated || p.SignerID.String() != "0304" {
		t.Fatalf("ParsePolicy = %+v, %v", p, err)
	}
	for _, bad := range []string{`{"unknown":1}`, `{"signer_id":"zz"}`, `{} {}`, `[`} {
		if _, err := attest.ParsePolicy([]byte(bad)); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParsePolicy(%s) = %v; want ErrMalformed", bad, err)
		}
	}
}

// FuzzParsePolicy: a policy that parses survives a JSON round trip, and
// Check never panics on it.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"unique_id":"33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb","signer_id":"815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6","product_id":0,"min_security_version":0}`))
	f.Add([]byte(`{"tcb_statuses":["UpToDate","ConfigurationAndSWHardeningNeeded"],"allowed_advisories":["INTEL-SA-00289","INTEL-SA-00615"]}`))
	f.Add([]byte(`{"allow_debug":true,"allow_simulated":true,"report_data":"48656c6c6f","require_revocation_checked":true}`))
	f.Add([]byte(`{"allowed_advisories":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := attest.ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := attest.ParsePolicy(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if again, _ := json.Marshal(q); !bytes.Equal(again, out) {
			t.Fatalf("round trip changed the policy: %s then %s", out, again)
		}
		// Absent and empty lists mean different things (defaults or
		// nothing): the round trip must keep them apart.
		if (p.TCBStatuses == nil) != (q.TCBStatuses == nil) || (p.AllowedAdvisories == nil) != (q.AllowedAdvisories == nil) {
			t.Fatalf("round trip through %s confused an absent list with an empty one", out)
		}
		_ = p.Check(claims())
	})
}
