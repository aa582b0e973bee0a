package dcap_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/internal/dcap"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/attest/tdx"
	"github.com/confide-dev/confide/internal/vectors"
)

// manifestVector is the part of a manifest.json entry the DCAP tests use.
type manifestVector struct {
	ID                string         `json:"id"`
	Kind              string         `json:"kind"`
	Evidence          string         `json:"evidence"`
	Files             []string       `json:"files"`
	PinnedTime        *time.Time     `json:"pinned_time"`
	Expect            string         `json:"expect"`
	TCBStatus         string         `json:"tcb_status"`
	AdvisoryIDs       []string       `json:"advisory_ids"`
	QETCBStatus       string         `json:"qe_tcb_status"`
	TDXModule         string         `json:"tdx_module"`
	RevocationChecked *bool          `json:"revocation_checked"`
	Fields            map[string]any `json:"fields"`
}

func readManifest(t *testing.T) []manifestVector {
	t.Helper()
	var m struct {
		Vectors []manifestVector `json:"vectors"`
	}
	if err := json.Unmarshal(vectors.Read(t, "manifest.json"), &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m.Vectors
}

// fieldChecker compares manifest fields with values read by our parsers;
// every field of a vector must be checked by someone.
type fieldChecker struct {
	t       *testing.T
	fields  map[string]any
	checked map[string]bool
}

func (c *fieldChecker) eq(name string, got any) {
	c.t.Helper()
	want, ok := c.fields[name]
	if !ok {
		return
	}
	c.checked[name] = true
	var w string
	switch v := want.(type) {
	case float64:
		w = fmt.Sprint(int64(v))
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		w = strings.Join(parts, ",")
	default:
		w = fmt.Sprint(v)
	}
	var g string
	switch v := got.(type) {
	case []byte:
		g = hex.EncodeToString(v)
	case []int:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		g = strings.Join(parts, ",")
	default:
		g = fmt.Sprint(v)
	}
	if !strings.EqualFold(g, w) {
		c.t.Errorf("%s = %s; manifest says %s", name, g, w)
	}
}

// pckCert returns the PCK (leaf) certificate of a quote's PEM chain.
func pckCert(t *testing.T, q *dcap.Quote) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(q.CertData)
	if b == nil {
		t.Fatal("certification data holds no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pckInfo(t *testing.T, c *x509.Certificate) *dcap.PCKInfo {
	t.Helper()
	for _, e := range c.Extensions {
		if e.Id.String() == "1.2.840.113741.1.13.1" {
			p, err := dcap.ParsePCKExtension(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("PCK certificate has no SGX extension")
	return nil
}

// TestManifest checks every SGX and TDX vector of manifest.json: every
// field it lists equals what the parsers read, and verification at the
// pinned time gives the expected result.
func TestManifest(t *testing.T) {
	n := 0
	for _, v := range readManifest(t) {
		if v.Kind != "sgx" && v.Kind != "tdx" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			raw := vectors.Read(t, v.Evidence)
			q, err := dcap.Parse(raw)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			c := &fieldChecker{t: t, fields: v.Fields, checked: map[string]bool{"report_data_prefix_ascii": true}}
			c.eq("quote_version", q.Version)
			c.eq("att_key_type", q.AttKeyType)
			c.eq("qe_svn", q.QESVN)
			c.eq("pce_svn", q.PCESVN)
			c.eq("cert_data_type", q.CertType)
			c.eq("trailing_bytes", q.Padding)
			c.eq("trailing_all_zero", true) // Parse refuses anything else
			tee := map[uint16]string{dcap.BodySGX: "SGX", dcap.BodyTD10: "TDX", dcap.BodyTD15: "TDX"}[q.BodyType]
			c.eq("tee_type", tee)
			if q.Version == 5 {
				c.eq("body_type", q.BodyType)
			}
			leaf := pckCert(t, q)
			p := pckInfo(t, leaf)
			c.eq("fmspc", p.FMSPC[:])
			ca, err := dcap.CAType(leaf.Issuer.CommonName)
			if err != nil {
				t.Fatal(err)
			}
			c.eq("pck_ca", strings.ToUpper(ca[:1])+ca[1:])
			c.eq("pck_pcesvn", p.PCESVN)
			comps := make([]int, 16)
			for i, x := range p.Comps {
				comps[i] = int(x)
			}
			c.eq("pck_sgx_tcb_components", comps)
			c.eq("pck_not_before", leaf.NotBefore.UTC().Format(time.RFC3339))
			c.eq("pck_not_after", leaf.NotAfter.UTC().Format(time.RFC3339))

			var coll attest.Getter
			if len(v.Files) > 1 {
				cf, err := attest.ParseCollateralJSON(vectors.Read(t, v.Files[1]))
				if err != nil {
					t.Fatal(err)
				}
				coll = attest.StaticGetter{C: cf}
			}
			now := func() time.Time { return *v.PinnedTime }
			var claims *attest.Claims
			if v.Kind == "sgx" {
				sq, err := sgx.ParseQuote(raw)
				if err != nil {
					t.Fatal(err)
				}
				r := &sq.Report
				c.eq("mrenclave", r.MREnclave[:])
				c.eq("mrsigner", r.MRSigner[:])
				c.eq("isv_prod_id", r.ProductID)
				c.eq("isv_svn", r.SecurityVersion)
				c.eq("attributes", r.Attributes[:])
				c.eq("debug", r.Debug())
				c.eq("cpusvn", r.CPUSVN[:])
				c.eq("report_data", r.ReportData[:])
				claims, err = sq.Verify(context.Background(), sgx.Options{Now: now, Getter: coll})
				checkResult(t, v, claims, err)
			} else {
				tq, err := tdx.ParseQuote(raw)
				if err != nil {
					t.Fatal(err)
				}
				r := &tq.Report
				c.eq("mrtd", r.MRTD[:])
				c.eq("td_attributes", r.TDAttributes[:])
				c.eq("debug", r.Debug())
				c.eq("xfam", r.XFAM[:])
				c.eq("tee_tcb_svn", r.TEETCBSVN[:])
				c.eq("mrsignerseam", r.MRSignerSeam[:])
				c.eq("mrconfigid", r.MRConfigID[:])
				c.eq("rtmr0", r.RTMR[0][:])
				c.eq("report_data", r.ReportData[:])
				c.eq("mrservicetd", r.MRServiceTD[:])
				claims, err = tq.Verify(context.Background(), tdx.Options{Now: now, Getter: coll})
				checkResult(t, v, claims, err)
			}
			if claims != nil {
				// The claims carry what the body says.
				c.eq("debug", claims.Debug)
				c.eq("fmspc", []byte(claims.FMSPC))
				c.eq("report_data", []byte(claims.ReportData))
			}
			for k := range v.Fields {
				if !c.checked[k] {
					t.Errorf("manifest field %s is not checked", k)
				}
			}
		})
	}
	if n < 5 {
		t.Errorf("manifest has %d SGX/TDX vectors; want at least 5", n)
	}
}

// checkResult compares the outcome of verification with the vector's
// expectation.
func checkResult(t *testing.T, v manifestVector, c *attest.Claims, err error) {
	t.Helper()
	switch v.Expect {
	case "ok":
		if err != nil {
			t.Fatalf("Verify = %v; manifest expects ok", err)
		}
		if string(c.TCBStatus) != v.TCBStatus || string(c.QEStatus) != v.QETCBStatus {
			t.Errorf("tcb_status %s qe %s; manifest says %s %s", c.TCBStatus, c.QEStatus, v.TCBStatus, v.QETCBStatus)
		}
		if !slices.Equal(c.AdvisoryIDs, v.AdvisoryIDs) && len(c.AdvisoryIDs)+len(v.AdvisoryIDs) > 0 {
			t.Errorf("advisory_ids %v; manifest says %v", c.AdvisoryIDs, v.AdvisoryIDs)
		}
		if v.TDXModule != "" {
			if got := c.TDX.ModuleID + " " + string(c.TDX.ModuleStatus); got != v.TDXModule {
				t.Errorf("tdx module %q; manifest says %q", got, v.TDXModule)
			}
		}
	case "debug":
		// No collateral: signatures and chain verify, claims come back.
		if !errors.Is(err, attest.ErrCollateralMissing) || c == nil || !c.Debug {
			t.Fatalf("Verify = %+v, %v; want debug claims with ErrCollateralMissing", c, err)
		}
	case "tcb-not-supported":
		if !errors.Is(err, attest.ErrTCBLevel) || c == nil {
			t.Fatalf("Verify = %+v, %v; want claims with ErrTCBLevel", c, err)
		}
	default:
		t.Fatalf("unknown expectation %q", v.Expect)
	}
	if v.RevocationChecked != nil && v.Expect == "ok" && c.RevocationChecked != *v.RevocationChecked {
		t.Errorf("revocation_checked %v; manifest says %v", c.RevocationChecked, *v.RevocationChecked)
	}
}

// TestIntelRoot checks the embedded root against the manifest's trust
// anchor.
func TestIntelRoot(t *testing.T) {
	for _, v := range readManifest(t) {
		if v.ID != "intel-sgx-root" {
			continue
		}
		root := dcap.IntelRoot()
		sum := sha256.Sum256(root.Raw)
		if got := hex.EncodeToString(sum[:]); got != v.Fields["sha256_fingerprint"] {
			t.Errorf("embedded root fingerprint %s; manifest says %v", got, v.Fields["sha256_fingerprint"])
		}
		if string(vectors.Read(t, "sgx/intel-sgx-root-ca.der")) != string(root.Raw) {
			t.Error("embedded root differs from sgx/intel-sgx-root-ca.der")
		}
		if root.Subject.CommonName != v.Fields["subject_cn"] {
			t.Errorf("embedded root CN %q", root.Subject.CommonName)
		}
		return
	}
	t.Fatal("manifest has no intel-sgx-root entry")
}
