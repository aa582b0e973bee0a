package sim

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestPCSHandler(t *testing.T) {
	s := newState(t)
	if err := s.RevokePCK(true); err != nil {
		t.Fatal(err)
	}
	c := s.Collateral()
	srv := httptest.NewServer(PCSHandler(s))
	defer srv.Close()
	fmspc := s.FMSPC()
	for _, tc := range []struct {
		name       string
		path       string
		status     int
		header     string
		wantChain  []byte
		wantBody   []byte
		wantCRLPEM bool
	}{
		{"tcb", PCSPathTCB + "?fmspc=" + hex.EncodeToString(fmspc[:]), 200, HeaderTCBInfoIssuerChain, c.TCBInfoIssuerChain, c.TCBInfo, false},
		{"tcb-upper-hex", PCSPathTCB + "?fmspc=" + strings.ToUpper(hex.EncodeToString(fmspc[:])), 200, HeaderTCBInfoIssuerChain, c.TCBInfoIssuerChain, c.TCBInfo, false},
		{"tcb-unknown-fmspc", PCSPathTCB + "?fmspc=00A067110000", 404, "", nil, nil, false},
		{"tcb-bad-fmspc", PCSPathTCB + "?fmspc=zz", 400, "", nil, nil, false},
		{"tcb-no-fmspc", PCSPathTCB, 400, "", nil, nil, false},
		{"qe-identity", PCSPathQEIdentity, 200, HeaderEnclaveIdentityIssuerChain, c.QEIdentityIssuerChain, c.QEIdentity, false},
		{"pckcrl-der", PCSPathPCKCRL + "?ca=processor&encoding=der", 200, HeaderPCKCRLIssuerChain, c.PCKCRLIssuerChain, c.PCKCRL, false},
		{"pckcrl-pem", PCSPathPCKCRL + "?ca=processor", 200, HeaderPCKCRLIssuerChain, c.PCKCRLIssuerChain, c.PCKCRL, true},
		{"pckcrl-platform", PCSPathPCKCRL + "?ca=platform", 404, "", nil, nil, false},
		{"pckcrl-bad-ca", PCSPathPCKCRL + "?ca=root", 400, "", nil, nil, false},
		{"pckcrl-bad-encoding", PCSPathPCKCRL + "?ca=processor&encoding=base64", 400, "", nil, nil, false},
		{"rootcacrl", PCSPathRootCACRL, 200, "", nil, c.RootCACRL, false},
		{"unknown-path", "/sgx/certification/v4/pckcert", 404, "", nil, nil, false},
		{"v3-path", "/sgx/certification/v3/tcb?fmspc=" + hex.EncodeToString(fmspc[:]), 404, "", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s status = %d; want %d", tc.path, resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if tc.header != "" {
				raw := resp.Header.Get(tc.header)
				if strings.Contains(raw, "\n") || strings.Contains(raw, " ") {
					t.Errorf("header %s is not URL-encoded: %q", tc.header, raw[:40])
				}
				chain, err := url.PathUnescape(raw)
				if err != nil || chain != string(tc.wantChain) {
					t.Errorf("header %s decodes to %d bytes, %v; want the issuer chain", tc.header, len(chain), err)
				}
			}
			if tc.wantCRLPEM {
				blk, rest := pem.Decode(body)
				if blk == nil || blk.Type != "X509 CRL" || len(bytes.TrimSpace(rest)) != 0 {
					t.Fatalf("body is not one PEM X509 CRL")
				}
				body = blk.Bytes
			}
			if !bytes.Equal(body, tc.wantBody) {
				t.Errorf("GET %s body differs from the collateral", tc.path)
			}
		})
	}
	t.Run("crl-revokes-pck", func(t *testing.T) {
		resp, err := http.Get(srv.URL + PCSPathPCKCRL + "?ca=processor&encoding=der")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		crl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatal(err)
		}
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(s.PCKCertificate().SerialNumber) != 0 {
			t.Errorf("served PCK CRL does not revoke the PCK certificate")
		}
	})
}
