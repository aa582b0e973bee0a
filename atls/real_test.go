package atls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/attest/tdx"
	"github.com/confide-dev/confide/internal/vectors"
)

func staticGetter(t *testing.T, rel string) attest.Getter {
	t.Helper()
	c, err := attest.ParseCollateralJSON(vectors.Read(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return attest.StaticGetter{C: c}
}

// TestRealEvidence puts real Intel-rooted quotes from the vectors into
// certificates. Their report data was made for other data, so each must
// verify (at the vector's pinned time, with its collateral) and then be
// refused for not binding the certificate's key: ErrKeyBinding is only
// reached after the verifier accepted the quote.
func TestRealEvidence(t *testing.T) {
	pinned := func(s string) func() time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return func() time.Time { return tm }
	}
	sgxQuote := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	tdxQuote := vectors.Read(t, "tdx/dcap-qvl-tdx-quote.bin")
	sgxOpts := sgx.Options{Now: pinned("2025-07-01T00:00:00Z"), Getter: staticGetter(t, "sgx/dcap-qvl-sgx-collateral.json")}
	tdxOpts := tdx.Options{Now: pinned("2025-07-01T00:00:00Z"), Getter: staticGetter(t, "tdx/dcap-qvl-tdx-collateral.json")}
	intel := Intel(sgxOpts, tdxOpts)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dice := func(q []byte) []pkix.Extension {
		return []pkix.Extension{{Id: OIDTaggedEvidence, Value: marshalEvidence(q, marshalClaims(spki, nil))}}
	}
	sq, err := sgx.ParseQuote(sgxQuote)
	if err != nil {
		t.Fatal(err)
	}
	oe := []pkix.Extension{{Id: OIDOpenEnclaveEvidence, Value: marshalOpenEnclave(sgxQuote[:len(sgxQuote)-sq.Padding], oeClaims(spki))}}
	acceptAll := func(*attest.Claims) error { return nil }
	tests := []struct {
		name     string
		verifier Verifier
		exts     []pkix.Extension
		want     error
	}{
		{"sgx quote, dice", intel, dice(sgxQuote), ErrKeyBinding},
		{"sgx quote, open enclave", intel, oe, ErrKeyBinding},
		{"tdx quote, dice", intel, dice(tdxQuote), ErrKeyBinding},
		{"tdx quote, tdx verifier", TDX(tdxOpts), dice(tdxQuote), ErrKeyBinding},
		{"sgx quote, sgx verifier", SGX(sgxOpts), dice(sgxQuote), ErrKeyBinding},
		{"tdx quote, sgx verifier", SGX(sgxOpts), dice(tdxQuote), attest.ErrMalformed},
		{"sgx quote, collateral missing", Intel(sgx.Options{Now: sgxOpts.Now}, tdxOpts), dice(sgxQuote), attest.ErrCollateralMissing},
		{"tdx quote, collateral missing", Intel(sgxOpts, tdx.Options{Now: tdxOpts.Now}), dice(tdxQuote), attest.ErrCollateralMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, leaf := certFor(t, key, tt.exts)
			c := Client{Verifier: tt.verifier, Appraise: acceptAll}
			claims, err := c.VerifyCertificate(context.Background(), leaf)
			if !errors.Is(err, tt.want) || claims != nil {
				t.Fatalf("VerifyCertificate = %v, %v; want %v", claims != nil, err, tt.want)
			}
		})
	}
}

func TestSameEnclave(t *testing.T) {
	td := func(edit func(*attest.TDXClaims)) *attest.Claims {
		x := &attest.TDXClaims{MRConfigID: attest.Hex{1}, MROwner: attest.Hex{2}, MROwnerCfg: attest.Hex{3}, TDAttributes: attest.Hex{4},
			RTMR: [4]attest.Hex{{10}, {11}, {12}, {13}}}
		if edit != nil {
			edit(x)
		}
		return &attest.Claims{TEE: attest.TDX, UniqueID: attest.Hex{0xAA}, TDX: x}
	}
	sgxClaims := func(edit func(*attest.Claims)) *attest.Claims {
		c := &attest.Claims{TEE: attest.SGX, UniqueID: attest.Hex{1}, SignerID: attest.Hex{2}, ProductID: 3, SecurityVersion: 4}
		if edit != nil {
			edit(c)
		}
		return c
	}
	base := td(nil)
	tests := []struct {
		name string
		a, b *attest.Claims
		want bool
	}{
		{"same sgx", sgxClaims(nil), sgxClaims(nil), true},
		{"sgx unique id", sgxClaims(nil), sgxClaims(func(c *attest.Claims) { c.UniqueID = attest.Hex{9} }), false},
		{"sgx signer", sgxClaims(nil), sgxClaims(func(c *attest.Claims) { c.SignerID = attest.Hex{9} }), false},
		{"sgx product", sgxClaims(nil), sgxClaims(func(c *attest.Claims) { c.ProductID = 9 }), false},
		{"sgx svn", sgxClaims(nil), sgxClaims(func(c *attest.Claims) { c.SecurityVersion = 9 }), false},
		{"sgx debug", sgxClaims(nil), sgxClaims(func(c *attest.Claims) { c.Debug = true }), false},
		{"sgx and tdx", sgxClaims(nil), base, false},
		{"same td", base, td(nil), true},
		{"td rtmr2 extended", base, td(func(x *attest.TDXClaims) { x.RTMR[2] = attest.Hex{99} }), true},
		{"td rtmr3 extended", base, td(func(x *attest.TDXClaims) { x.RTMR[3] = attest.Hex{99} }), true},
		{"td rtmr0", base, td(func(x *attest.TDXClaims) { x.RTMR[0] = attest.Hex{99} }), false},
		{"td rtmr1", base, td(func(x *attest.TDXClaims) { x.RTMR[1] = attest.Hex{99} }), false},
		{"td config id", base, td(func(x *attest.TDXClaims) { x.MRConfigID = attest.Hex{99} }), false},
		{"td owner", base, td(func(x *attest.TDXClaims) { x.MROwner = attest.Hex{99} }), false},
		{"td owner config", base, td(func(x *attest.TDXClaims) { x.MROwnerCfg = attest.Hex{99} }), false},
		{"td attributes", base, td(func(x *attest.TDXClaims) { x.TDAttributes = attest.Hex{99} }), false},
		{"td without tdx claims", base, &attest.Claims{TEE: attest.TDX, UniqueID: attest.Hex{0xAA}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameEnclave(tt.a, tt.b); got != tt.want {
				t.Errorf("sameEnclave = %v; want %v", got, tt.want)
			}
		})
	}
}
