package dcap

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/internal/vectors"
)

func seedCollateral(f *testing.F) []*attest.Collateral {
	var out []*attest.Collateral
	for _, rel := range []string{"sgx/dcap-qvl-sgx-collateral.json", "tdx/dcap-qvl-tdx-collateral.json", "tdx/dcap-qvl-tdx-outdated-collateral.json"} {
		c, err := attest.ParseCollateralJSON(vectors.Read(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func FuzzParseTCBInfo(f *testing.F) {
	for _, c := range seedCollateral(f) {
		f.Add(c.TCBInfo)
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseTCBInfo(b) })
}

func FuzzParseQEIdentity(f *testing.F) {
	for _, c := range seedCollateral(f) {
		f.Add(c.QEIdentity)
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseQEIdentity(b) })
}

// FuzzParsePCKExtension is seeded with the SGX extension of the real PCK
// certificates in the vectors' quotes.
func FuzzParsePCKExtension(f *testing.F) {
	for _, rel := range []string{"sgx/dcap-qvl-sgx-quote.bin", "tdx/dcap-qvl-tdx-quote.bin", "sgx/trustee-occlum-debug-quote.bin"} {
		q, err := Parse(vectors.Read(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		b, _ := pem.Decode(q.CertData)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range c.Extensions {
			if e.Id.String() == oidSGXExtension {
				f.Add(e.Value)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParsePCKExtension(b) })
}

// TestPCKExtension checks the fields read from a real PCK certificate.
func TestPCKExtension(t *testing.T) {
	q, err := Parse(vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseChain(q.CertData, "PCK chain")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pckInfo(chain[0])
	if err != nil {
		t.Fatalf("pckInfo = %v", err)
	}
	if p.FMSPC != [6]byte{0x00, 0xA0, 0x67, 0x11, 0x00, 0x00} || p.PCESVN != 13 || p.Comps[0] != 11 || p.Comps[1] != 11 || p.Comps[2] != 2 {
		t.Errorf("PCK info = FMSPC %X PCESVN %d comps %v; want 00A067110000, 13, [11 11 2 …]", p.FMSPC, p.PCESVN, p.Comps)
	}
	if ca, err := CAType(chain[0].Issuer.CommonName); err != nil || ca != "processor" {
		t.Errorf("CAType = %q, %v; want processor", ca, err)
	}
}
