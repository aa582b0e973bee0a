package tdx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/tdx"
	"github.com/confide-dev/confide/internal/vectors"
)

func at(s string) func() time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func getter(t testing.TB, rel string) attest.Getter {
	t.Helper()
	c, err := attest.ParseCollateralJSON(vectors.Read(t, rel))
	if err != nil {
		t.Fatalf("ParseCollateralJSON(%s) = %v", rel, err)
	}
	return attest.StaticGetter{C: c}
}

func TestVectors(t *testing.T) {
	tests := []struct {
		name, quote, coll, at string
		wantErr               error
		status                attest.TCBStatus
		debug                 bool
		mrtd                  string
		padding               int
	}{
		{"dcap-qvl v4", "tdx/dcap-qvl-tdx-quote.bin", "tdx/dcap-qvl-tdx-collateral.json", "2025-07-01T00:00:00Z", nil, attest.UpToDate, false, "91eb2b44d141d4ec", 70},
		{"dcap-qvl v5 outdated", "tdx/dcap-qvl-tdx-outdated-quote.bin", "tdx/dcap-qvl-tdx-outdated-collateral.json", "2026-03-01T00:00:00Z", attest.ErrTCBLevel, "", false, "273828c46252fcbd", 0},
		{"trustee debug", "tdx/trustee-debug-td-quote.bin", "", "2025-01-01T00:00:00Z", attest.ErrCollateralMissing, "", true, "705ee9381b8633a9", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := vectors.Read(t, tt.quote)
			q, err := tdx.ParseQuote(b)
			if err != nil {
				t.Fatalf("ParseQuote = %v", err)
			}
			if q.Padding != tt.padding {
				t.Errorf("Padding = %d; want %d", q.Padding, tt.padding)
			}
			opts := tdx.Options{Now: at(tt.at)}
			if tt.coll != "" {
				opts.Getter = getter(t, tt.coll)
			}
			c, err := q.Verify(context.Background(), opts)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v; want %v", err, tt.wantErr)
			}
			if c == nil {
				t.Fatal("Verify returned no claims")
			}
			if c.TCBStatus != tt.status || c.Debug != tt.debug {
				t.Errorf("tcb_status %q debug %v; want %q %v", c.TCBStatus, c.Debug, tt.status, tt.debug)
			}
			if got := c.TDX.MRTD.String()[:16]; got != tt.mrtd {
				t.Errorf("mrtd starts %s; want %s", got, tt.mrtd)
			}
			if td15 := tt.quote == "tdx/dcap-qvl-tdx-outdated-quote.bin"; td15 != (c.TDX.TEETCBSVN2 != nil) || td15 && c.TDX.TEETCBSVN2.String() != "0d010300000000000000000000000000" {
				t.Errorf("tee_tcb_svn2 = %v; want it for the TD report 1.5 only", c.TDX.TEETCBSVN2)
			}
			if tt.status == attest.UpToDate && (c.QEStatus != attest.UpToDate || c.TDX.ModuleID != "TDX_01" || c.TDX.ModuleStatus != attest.UpToDate || !c.RevocationChecked) {
				t.Errorf("qe %s module %s %s revocation %v; want UpToDate TDX_01 UpToDate true", c.QEStatus, c.TDX.ModuleID, c.TDX.ModuleStatus, c.RevocationChecked)
			}
		})
	}
}
