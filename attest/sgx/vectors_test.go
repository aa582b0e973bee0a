package sgx_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

func at(s string) func() time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func collateral(t testing.TB, rel string) attest.Getter {
	t.Helper()
	c, err := attest.ParseCollateralJSON(vectors.Read(t, rel))
	if err != nil {
		t.Fatalf("ParseCollateralJSON(%s) = %v", rel, err)
	}
	return attest.StaticGetter{C: c}
}

func TestDCAPQVLVector(t *testing.T) {
	quote := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	c, err := sgx.Verify(context.Background(), quote, sgx.Options{
		Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json"),
	})
	if err != nil {
		t.Fatalf("Verify(dcap-qvl quote) = %v", err)
	}
	if c.TCBStatus != attest.ConfigurationAndSWHardeningNeeded {
		t.Errorf("tcb_status = %s; want ConfigurationAndSWHardeningNeeded", c.TCBStatus)
	}
	if want := []string{"INTEL-SA-00289", "INTEL-SA-00615"}; !slices.Equal(c.AdvisoryIDs, want) {
		t.Errorf("advisory_ids = %v; want %v", c.AdvisoryIDs, want)
	}
	if c.QEStatus != attest.UpToDate || !c.RevocationChecked || c.Simulated || c.Debug {
		t.Errorf("qe_status %s, revocation_checked %v, simulated %v, debug %v; want UpToDate, true, false, false", c.QEStatus, c.RevocationChecked, c.Simulated, c.Debug)
	}
	if got := c.UniqueID.String(); got != "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" {
		t.Errorf("unique_id = %s", got)
	}
	if got := c.SignerID.String(); got != "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6" {
		t.Errorf("signer_id = %s", got)
	}
	if got := c.FMSPC.String(); got != "00a067110000" {
		t.Errorf("fmspc = %s", got)
	}
	if string(c.ReportData[:13]) != "Hello, world!" {
		t.Errorf("report_data starts %q", c.ReportData[:13])
	}
}

func TestOcclumDebugVector(t *testing.T) {
	quote := vectors.Read(t, "sgx/trustee-occlum-debug-quote.bin")
	c, err := sgx.Verify(context.Background(), quote, sgx.Options{Now: at("2025-01-01T00:00:00Z")})
	if !errors.Is(err, attest.ErrCollateralMissing) {
		t.Fatalf("Verify(occlum debug quote) without collateral = %v; want ErrCollateralMissing", err)
	}
	if c == nil || !c.Debug || c.TCBStatus != "" {
		t.Fatalf("claims = %+v; want debug claims without a TCB status", c)
	}
	if got := c.UniqueID.String()[:16]; got != "8f173e4613ff05c5" {
		t.Errorf("unique_id starts %s; want 8f173e4613ff05c5", got)
	}
}
