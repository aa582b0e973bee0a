package dcap

import (
	"errors"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/internal/vectors"
)

// TestRelaunch applies the TD relaunch rule to the real TDX TCB info of
// the outdated vector (latest level: TDX components 5,0,3; module
// identities TDX_01 with levels 6 UpToDate, 4 and 2 OutOfDate, TDX_03
// with level 3 UpToDate).
func TestRelaunch(t *testing.T) {
	c, err := attest.ParseCollateralJSON(vectors.Read(t, "tdx/dcap-qvl-tdx-outdated-collateral.json"))
	if err != nil {
		t.Fatal(err)
	}
	tcb, err := ParseTCBInfo(c.TCBInfo)
	if err != nil {
		t.Fatal(err)
	}
	svn := func(minor, major, patch byte) [16]byte { return [16]byte{minor, major, patch} }
	const (
		up   = attest.UpToDate
		ood  = attest.OutOfDate
		oodc = attest.OutOfDateConfigurationNeeded
		cfg  = attest.ConfigurationNeeded
	)
	tests := []struct {
		name                 string
		svn2                 [16]byte
		sgx, tdx, module, qe attest.TCBStatus
		want                 attest.TCBStatus
		wantErr              error
	}{
		{"module updated to the latest", svn(6, 1, 3), up, ood, ood, up, attest.TDRelaunchAdvised, nil},
		{"configuration needed", svn(6, 1, 3), cfg, oodc, ood, up, attest.TDRelaunchAdvisedConfigurationNeeded, nil},
		{"running module still old", svn(4, 1, 3), up, ood, ood, up, ood, nil},
		{"SEAM loader patch behind", svn(6, 1, 2), up, ood, ood, up, ood, nil},
		{"launch module up to date", svn(6, 1, 3), up, up, up, up, up, nil},
		{"module fine, platform TDX TCB out of date", svn(6, 1, 3), up, ood, up, up, ood, nil},
		{"SGX TCB out of date", svn(6, 1, 3), ood, ood, ood, up, ood, nil},
		{"QE out of date", svn(6, 1, 3), up, ood, ood, ood, ood, nil},
		{"another module major", svn(3, 3, 3), up, ood, ood, up, attest.TDRelaunchAdvised, nil},
		{"unknown module major", svn(9, 2, 3), up, ood, ood, up, "", attest.ErrTCBLevel},
		{"major 0 at the latest level", svn(5, 0, 3), up, ood, ood, up, attest.TDRelaunchAdvised, nil},
		{"major 0 below the latest level", svn(4, 0, 3), up, ood, ood, up, ood, nil},
	}
	for _, tt := range tests {
		got, err := relaunch(tcb, tt.svn2, tt.sgx, tt.tdx, tt.module, tt.qe)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: relaunch = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
