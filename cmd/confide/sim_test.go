package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/image"
)

func runSim(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestSimCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	var created simSummary
	steps := []struct {
		name    string
		args    []string
		code    int
		check   func(t *testing.T, out string)
		errWant string
	}{
		{"show-before-init", []string{"sim", "show", "--dir", dir}, exitFailure, nil, "confide sim init"},
		{"init", []string{"sim", "init", "--dir", dir, "--json"}, exitOK, func(t *testing.T, out string) {
			if err := json.Unmarshal([]byte(out), &created); err != nil {
				t.Fatalf("init --json output: %v", err)
			}
			if created.TCBStatus != "UpToDate" || len(created.RootFingerprint) != 64 || created.FMSPC != "C0F1DE000000" {
				t.Errorf("init = %+v; want UpToDate, a SHA-256 fingerprint, FMSPC C0F1DE000000", created)
			}
		}, ""},
		{"init-again-keeps-state", []string{"sim", "init", "--dir", dir, "--json"}, exitOK, func(t *testing.T, out string) {
			var s simSummary
			json.Unmarshal([]byte(out), &s)
			if s.RootFingerprint != created.RootFingerprint {
				t.Errorf("second init changed the root CA")
			}
		}, ""},
		{"tcb", []string{"sim", "tcb", "--dir", dir, "--status", "OutOfDate"}, exitOK, nil, ""},
		{"show-text", []string{"sim", "show", "--dir", dir}, exitOK, func(t *testing.T, out string) {
			for _, want := range []string{"OutOfDate", "C0F1DE000000", created.RootFingerprint} {
				if !strings.Contains(out, want) {
					t.Errorf("show output lacks %q:\n%s", want, out)
				}
			}
		}, ""},
		{"tcb-bad-status", []string{"sim", "tcb", "--dir", dir, "--status", "Fine"}, exitUsage, nil, "--status"},
		{"tcb-no-status", []string{"sim", "tcb", "--dir", dir}, exitUsage, nil, "--status"},
		{"revoke", []string{"sim", "revoke-pck", "--dir", dir}, exitOK, nil, ""},
		{"show-revoked", []string{"sim", "show", "--dir", dir, "--json"}, exitOK, func(t *testing.T, out string) {
			var s simSummary
			json.Unmarshal([]byte(out), &s)
			if !s.PCKRevoked || s.TCBStatus != "OutOfDate" {
				t.Errorf("show = %+v; want revoked, OutOfDate", s)
			}
		}, ""},
		{"pcs-bad-listen", []string{"sim", "pcs", "--dir", dir, "--listen", "256.0.0.1:99999"}, exitNetwork, nil, "confide: error:"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, out, errOut := runSim(t, st.args...)
			if code != st.code {
				t.Fatalf("run(%q) = %d; want %d (stderr %q)", st.args, code, st.code, errOut)
			}
			if st.check != nil {
				st.check(t, out)
			}
			if !strings.Contains(errOut, st.errWant) {
				t.Errorf("run(%q) stderr = %q; want it to contain %q", st.args, errOut, st.errWant)
			}
		})
	}
}

func TestSimQuote(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "sim")
	key, err := image.GenerateKey(image.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cfg := image.DefaultConfig()
	cfg.ProductID = 4
	cfg.SecurityVersion = 2
	signed, err := image.Sign([]byte("\x7fELF not really a program"), cfg, key)
	if err != nil {
		t.Fatalf("image.Sign = %v", err)
	}
	img, err := image.Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(tmp, "enclave.signed")
	os.WriteFile(enc, signed, 0o600)
	out := filepath.Join(tmp, "quote.bin")
	code, stdout, stderr := runSim(t, "sim", "quote", "--dir", dir, "--enclave", enc, "--report-data", "48656c6c6f", "--out", out)
	if code != exitOK {
		t.Fatalf("sim quote = %d (stderr %q)", code, stderr)
	}
	if stdout != "" || !strings.Contains(stderr, "SIMULATED") {
		t.Errorf("sim quote stdout %q, stderr %q; want no data on stdout and a testing-aid note", stdout, stderr)
	}
	q, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// DCAP v3: header 48, report body at 48; MRENCLAVE at body+64,
	// MRSIGNER at body+128, ISVPRODID/ISVSVN at body+256, report data at
	// body+320.
	if len(q) < 48+384+4 || binary.LittleEndian.Uint16(q) != 3 {
		t.Fatalf("quote is %d bytes, version %d", len(q), binary.LittleEndian.Uint16(q))
	}
	body := q[48 : 48+384]
	if !bytes.Equal(body[64:96], img.Identity.UniqueID[:]) || !bytes.Equal(body[128:160], img.Identity.SignerID[:]) ||
		binary.LittleEndian.Uint16(body[256:]) != 4 || binary.LittleEndian.Uint16(body[258:]) != 2 ||
		hex.EncodeToString(body[320:325]) != "48656c6c6f" {
		t.Errorf("quote body does not carry the enclave's identity and report data")
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"report-data-too-long", []string{"--enclave", enc, "--out", out, "--report-data", strings.Repeat("00", 65)}, exitUsage},
		{"report-data-not-hex", []string{"--enclave", enc, "--out", out, "--report-data", "xyz"}, exitUsage},
		{"missing-enclave", []string{"--out", out}, exitUsage},
		{"unsigned-image", []string{"--enclave", out, "--out", filepath.Join(tmp, "q2")}, exitVerify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"sim", "quote", "--dir", dir}, tc.args...)
			if code, _, stderr := runSim(t, args...); code != tc.code {
				t.Errorf("run(%q) = %d; want %d (stderr %q)", args, code, tc.code, stderr)
			}
		})
	}
}
