package sgx_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

func readCollateral(t *testing.T, rel string) *attest.Collateral {
	t.Helper()
	c, err := attest.ParseCollateralJSON(vectors.Read(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// flipped returns b with byte i (negative: from the end) changed.
func flipped(b []byte, i int) []byte {
	b = bytes.Clone(b)
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0x01
	return b
}

// replaceFirst returns b with the first old replaced by new.
func replaceFirst(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not found", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// TestTamperedCollateral changes one piece of the real collateral at a
// time: each change is refused with its class.
func TestTamperedCollateral(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	tdxColl := readCollateral(t, "tdx/dcap-qvl-tdx-collateral.json")
	st, _ := simQuote(t, testIdentity())
	simColl, err := st.AttestCollateral()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(c *attest.Collateral)
		want   error
	}{
		{"TCB info body", func(c *attest.Collateral) {
			c.TCBInfo = replaceFirst(t, c.TCBInfo, `"tcbEvaluationDataNumber":`, `"tcbEvaluationDataNumber": `)
		}, attest.ErrSignature},
		{"TCB info status", func(c *attest.Collateral) {
			c.TCBInfo = replaceFirst(t, c.TCBInfo, `"ConfigurationAndSWHardeningNeeded"`, `"UpToDate"`)
		}, attest.ErrSignature},
		{"TCB info signature", func(c *attest.Collateral) { c.TCBInfoSignature = flipped(c.TCBInfoSignature, 10) }, attest.ErrSignature},
		{"TCB info signature truncated", func(c *attest.Collateral) { c.TCBInfoSignature = c.TCBInfoSignature[:63] }, attest.ErrSignature},
		{"QE identity body", func(c *attest.Collateral) { c.QEIdentity = replaceFirst(t, c.QEIdentity, `"isvsvn":8`, `"isvsvn":9`) }, attest.ErrSignature},
		{"QE identity signature", func(c *attest.Collateral) { c.QEIdentitySignature = flipped(c.QEIdentitySignature, 40) }, attest.ErrSignature},
		{"TCB info issuer chain from another root", func(c *attest.Collateral) { c.TCBInfoIssuerChain = simColl.TCBInfoIssuerChain }, attest.ErrChain},
		{"QE identity issuer chain from another root", func(c *attest.Collateral) { c.QEIdentityIssuerChain = simColl.QEIdentityIssuerChain }, attest.ErrChain},
		{"TCB info issuer chain garbage", func(c *attest.Collateral) { c.TCBInfoIssuerChain = []byte("not PEM") }, attest.ErrMalformed},
		{"TDX collateral for an SGX quote", func(c *attest.Collateral) { *c = *tdxColl }, attest.ErrCollateral},
		{"PCK CRL signature", func(c *attest.Collateral) { c.PCKCRL = flipped(c.PCKCRL, -1) }, attest.ErrSignature},
		{"PCK CRL of another CA", func(c *attest.Collateral) { c.PCKCRL = tdxColl.PCKCRL }, attest.ErrSignature},
		{"PCK CRL garbage", func(c *attest.Collateral) { c.PCKCRL = []byte{0x30, 0x03, 0x02, 0x01} }, attest.ErrMalformed},
		{"root CA CRL signature", func(c *attest.Collateral) { c.RootCACRL = flipped(c.RootCACRL, -1) }, attest.ErrSignature},
		{"root CA CRL of another root", func(c *attest.Collateral) { c.RootCACRL = simColl.RootCACRL }, attest.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readCollateral(t, "sgx/dcap-qvl-sgx-collateral.json")
			tt.change(c)
			_, err := sgx.Verify(context.Background(), q, sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: attest.StaticGetter{C: c}})
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
}

// TestCollateralOtherPlatform gives a quote the (valid, signed) collateral
// of another FMSPC.
func TestCollateralOtherPlatform(t *testing.T) {
	q := vectors.Read(t, "sgx/trustee-occlum-debug-quote.bin")
	g := attest.StaticGetter{C: readCollateral(t, "sgx/dcap-qvl-sgx-collateral.json")}
	c, err := sgx.Verify(context.Background(), q, sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: g})
	if !errors.Is(err, attest.ErrCollateral) || c != nil {
		t.Errorf("Verify(occlum quote, dcap-qvl collateral) = %v, %v; want ErrCollateral without claims", c, err)
	}
}

// TestNoCRLs verifies with the CRLs left out: the quote verifies and the
// claims say revocation was not checked.
func TestNoCRLs(t *testing.T) {
	q := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	for _, drop := range []string{"both", "pck", "root"} {
		c := readCollateral(t, "sgx/dcap-qvl-sgx-collateral.json")
		if drop != "root" {
			c.PCKCRL, c.PCKCRLIssuerChain = nil, nil
		}
		if drop != "pck" {
			c.RootCACRL = nil
		}
		claims, err := sgx.Verify(context.Background(), q, sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: attest.StaticGetter{C: c}})
		if err != nil || claims.RevocationChecked || claims.TCBStatus != attest.ConfigurationAndSWHardeningNeeded {
			t.Errorf("without %s CRL: Verify = %+v, %v; want verified, revocation_checked false", drop, claims, err)
		}
	}
}

// TestTamperedPCKCertificate changes the PCK certificate's signature
// inside the quote's certification data.
func TestTamperedPCKCertificate(t *testing.T) {
	real := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	st, simQ := simQuote(t, testIdentity())
	for _, ev := range []struct {
		name  string
		quote []byte
		opts  sgx.Options
	}{
		{"dcap-qvl", real, sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json")}},
		{"sim", simQ, sgx.Options{SimulatedRoots: []*x509.Certificate{st.RootCertificate()}, Getter: st.Getter()}},
	} {
		// The last base64 characters of the first PEM block encode the
		// end of the certificate's signature.
		end := bytes.Index(ev.quote, []byte("-----END CERTIFICATE-----"))
		i := end - 1
		for ev.quote[i] == '\n' || ev.quote[i] == '=' {
			i--
		}
		i -= 3
		q := bytes.Clone(ev.quote)
		if q[i] == 'A' {
			q[i] = 'B'
		} else {
			q[i] = 'A'
		}
		if _, err := sgx.Verify(context.Background(), q, ev.opts); !errors.Is(err, attest.ErrChain) {
			t.Errorf("%s: Verify(PCK certificate signature changed) = %v; want ErrChain", ev.name, err)
		}
	}
}

// TestSimRevokedTCBLevel moves the simulated platform to a TCB level whose
// status is Revoked: the quote verifies and the claims say so (the
// default policy then refuses it).
func TestSimRevokedTCBLevel(t *testing.T) {
	st, q := simQuote(t, testIdentity())
	if err := st.SetTCBStatus(attest.Revoked); err != nil {
		t.Fatal(err)
	}
	c, err := sgx.Verify(context.Background(), q, simOptions(st))
	if err != nil || c.TCBStatus != attest.Revoked {
		t.Fatalf("Verify = %+v, %v; want claims with tcb_status Revoked", c, err)
	}
	err = (attest.Policy{AllowSimulated: true}).Check(c)
	var pe *attest.PolicyError
	if !errors.As(err, &pe) || pe.Rule != "tcb_status" {
		t.Errorf("default policy on a Revoked TCB level = %v; want the tcb_status rule to fail", err)
	}
}

// TestSimCollateralWindow verifies a simulated quote around its
// collateral's validity (issued now, valid 30 days; the PCK certificate
// was issued an hour ago).
func TestSimCollateralWindow(t *testing.T) {
	st, q := simQuote(t, testIdentity())
	issued := time.Now()
	for _, tt := range []struct {
		name string
		d    time.Duration
		want error
	}{
		{"before the PCK certificate", -2 * time.Hour, attest.ErrChain},
		{"before the collateral", -time.Minute, attest.ErrCollateralNotYetValid},
		{"29 days later", 29 * 24 * time.Hour, nil},
		{"31 days later", 31 * 24 * time.Hour, attest.ErrCollateralExpired},
	} {
		o := simOptions(st)
		o.Now = func() time.Time { return issued.Add(tt.d) }
		if _, err := sgx.Verify(context.Background(), q, o); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v; want %v", tt.name, err, tt.want)
		}
	}
}

// withCertData returns a v3 quote with its certification data (which no
// signature covers) replaced, and the length fields adjusted.
func withCertData(t *testing.T, quote, certData []byte) []byte {
	t.Helper()
	q, err := sgx.ParseQuote(quote)
	if err != nil {
		t.Fatal(err)
	}
	if q.Padding != 0 {
		t.Fatal("quote has padding")
	}
	// The certification data starts at the first PEM block.
	start := bytes.Index(quote, []byte("-----BEGIN CERTIFICATE-----"))
	out := append(bytes.Clone(quote[:start]), certData...)
	binary.LittleEndian.PutUint32(out[start-4:], uint32(len(certData)))
	binary.LittleEndian.PutUint32(out[48+384:], uint32(len(out)-48-384-4))
	return out
}

// TestChainWithoutRoot verifies quotes whose PEM chain leaves out the
// root (the verifier supplies it), and refuses certification data that is
// only the PCK certificate or has the chain in another order.
func TestChainWithoutRoot(t *testing.T) {
	raw := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	opts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json")}
	start := bytes.Index(raw, []byte("-----BEGIN CERTIFICATE-----"))
	var blocks [][]byte
	for rest := raw[start:]; ; {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, pem.EncodeToMemory(b))
		rest = r
	}
	if len(blocks) != 3 {
		t.Fatalf("%d PEM blocks; want 3", len(blocks))
	}
	// The original, re-encoded: the reassembly itself changes nothing.
	if c, err := sgx.Verify(context.Background(), withCertData(t, raw, bytes.Join(blocks, nil)), opts); err != nil || !c.RevocationChecked {
		t.Fatalf("Verify(re-encoded chain) = %+v, %v", c, err)
	}
	c, err := sgx.Verify(context.Background(), withCertData(t, raw, bytes.Join(blocks[:2], nil)), opts)
	if err != nil || !c.RevocationChecked || c.TCBStatus != attest.ConfigurationAndSWHardeningNeeded {
		t.Errorf("Verify(leaf and CA only) = %+v, %v; want verified with revocation checked", c, err)
	}
	if _, err := sgx.Verify(context.Background(), withCertData(t, raw, blocks[0]), opts); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("Verify(leaf only) = %v; want ErrMalformed", err)
	}
	if _, err := sgx.Verify(context.Background(), withCertData(t, raw, bytes.Join([][]byte{blocks[1], blocks[0], blocks[2]}, nil)), opts); !errors.Is(err, attest.ErrChain) {
		t.Errorf("Verify(CA first) = %v; want ErrChain (the first certificate is not a PCK certificate)", err)
	}
}

// TestCacheConcurrent verifies real and simulated quotes from many
// goroutines through one small cache (entries are evicted while in use).
func TestCacheConcurrent(t *testing.T) {
	real := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	realOpts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json")}
	st, simQ := simQuote(t, testIdentity())
	simOpts := simOptions(st)
	cache := sgx.NewCache(1)
	realOpts.Cache, simOpts.Cache = cache, cache
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			var err error
			for range 10 {
				var c *attest.Claims
				if i%2 == 0 {
					c, err = sgx.Verify(context.Background(), real, realOpts)
					if err == nil && (c.Simulated || c.TCBStatus != attest.ConfigurationAndSWHardeningNeeded) {
						err = errors.New("wrong claims for the real quote")
					}
				} else {
					c, err = sgx.Verify(context.Background(), simQ, simOpts)
					if err == nil && (!c.Simulated || c.TCBStatus != attest.UpToDate) {
						err = errors.New("wrong claims for the simulated quote")
					}
				}
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
