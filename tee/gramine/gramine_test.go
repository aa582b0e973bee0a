package gramine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/confide-dev/confide/tee"
)

// fakeGramine plays Gramine's /dev/attestation over a real directory:
// writing target_info produces report (a REPORT body with the last
// user_report_data and a MAC standing in for the target's), writing
// user_report_data produces quote.
type fakeGramine struct {
	rootFS
	dir    string
	cpusvn [16]byte
	isvsvn uint16
}

func (g *fakeGramine) WriteFile(name string, data []byte) error {
	if err := g.rootFS.WriteFile(name, data); err != nil {
		return err
	}
	switch name {
	case fileTargetInfo:
		rd, _ := os.ReadFile(filepath.Join(g.dir, fileUserReportData))
		r := make([]byte, tee.ReportSize)
		copy(r[0:], g.cpusvn[:])
		binary.LittleEndian.PutUint16(r[258:], g.isvsvn)
		copy(r[320:384], rd)
		mac := sha256.Sum256(data)
		copy(r[416:], mac[:16])
		return os.WriteFile(filepath.Join(g.dir, fileReport), r, 0o600)
	case fileUserReportData:
		return os.WriteFile(filepath.Join(g.dir, fileQuote), append([]byte("QUOTE:"), data...), 0o600)
	}
	return nil
}

func fakeTree(t *testing.T, attType string, keys bool) (string, *fakeGramine) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dev/attestation")
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	ti := make([]byte, tee.TargetInfoSize)
	ti[0] = 0xAB
	files := map[string][]byte{
		fileMyTargetInfo:   ti,
		fileUserReportData: make([]byte, 64),
		fileTargetInfo:     make([]byte, 512),
		fileReport:         nil,
		fileQuote:          nil,
	}
	if attType != "" {
		files[fileAttestationType] = []byte(attType + "\n")
	}
	if keys {
		files[fileKeyMREnclave] = bytes.Repeat([]byte{1}, 16)
		files[fileKeyMRSigner] = bytes.Repeat([]byte{2}, 16)
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, &fakeGramine{dir: dir, cpusvn: [16]byte{5, 5, 2}, isvsvn: 3}
}

func open(t *testing.T, dir string, g *fakeGramine) *Platform {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.rootFS = rootFS{r}
	p, err := newPlatform(g)
	if err != nil {
		t.Fatalf("newPlatform = %v", err)
	}
	return p
}

func TestPlatform(t *testing.T) {
	dir, g := fakeTree(t, "dcap", true)
	// Plain files without Gramine behind them produce no report.
	if _, err := Open(dir); !errors.Is(err, ErrDevice) {
		t.Errorf("Open(plain files) = %v; want ErrDevice", err)
	}
	p := open(t, dir, g)
	if info := p.Info(); info.Name != "gramine" || info.Simulated || info.CPUSVN != g.cpusvn {
		t.Errorf("Info() = %+v; want gramine, not simulated, CPUSVN %x", info, g.cpusvn)
	}
	if p.AttestationType() != "dcap" {
		t.Errorf("AttestationType() = %q; want dcap", p.AttestationType())
	}
	ti, _ := p.TargetInfo()
	if len(ti) != 512 || ti[0] != 0xAB {
		t.Errorf("TargetInfo() = %x...; want my_target_info", ti[:4])
	}
	rd := [64]byte{'r', 'd'}
	t.Run("quote", func(t *testing.T) {
		q, err := p.Quote(rd)
		if want := append([]byte("QUOTE:"), rd[:]...); err != nil || !bytes.Equal(q, want) {
			t.Errorf("Quote = %q, %v; want %q", q, err, want)
		}
	})
	t.Run("report", func(t *testing.T) {
		target := make([]byte, 512)
		target[0] = 0xCD
		r, err := p.Report(target, rd)
		if err != nil {
			t.Fatal(err)
		}
		mac := sha256.Sum256(target)
		if !bytes.Equal(r[320:384], rd[:]) || !bytes.Equal(r[416:], mac[:16]) {
			t.Errorf("Report did not pass report data and target through")
		}
		if _, err := p.Report(target[:100], rd); err == nil {
			t.Error("Report(short target) = nil error")
		}
	})
	t.Run("verify-unsupported", func(t *testing.T) {
		if err := p.VerifyReport(make([]byte, 432)); !errors.Is(err, tee.ErrUnsupported) {
			t.Errorf("VerifyReport = %v; want ErrUnsupported", err)
		}
	})
}

func TestSealKey(t *testing.T) {
	dir, g := fakeTree(t, "dcap", true)
	p := open(t, dir, g)
	k := func(req tee.KeyRequest) []byte {
		b, err := p.SealKey(req)
		if err != nil || len(b) != 16 {
			t.Fatalf("SealKey(%+v) = %x, %v", req, b, err)
		}
		return b
	}
	u := k(tee.KeyRequest{Policy: tee.ByUniqueID})
	for _, tc := range []struct {
		name string
		got  []byte
		same bool
	}{
		{"deterministic", k(tee.KeyRequest{Policy: tee.ByUniqueID}), true},
		{"own-svn-explicit", k(tee.KeyRequest{Policy: tee.ByUniqueID, SecurityVersion: 3, CPUSVN: g.cpusvn}), true},
		{"signer-differs", k(tee.KeyRequest{Policy: tee.BySigner}), false},
		{"keyid-diversifies", k(tee.KeyRequest{Policy: tee.ByUniqueID, KeyID: [32]byte{1}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(tc.got, u) != tc.same {
				t.Errorf("key equality = %v; want %v", !tc.same, tc.same)
			}
		})
	}
	hi := g.cpusvn
	hi[0]++
	for _, tc := range []struct {
		name string
		req  tee.KeyRequest
		want error
	}{
		{"svn-above", tee.KeyRequest{Policy: tee.ByUniqueID, SecurityVersion: 4}, tee.ErrKeyRequest},
		{"svn-below", tee.KeyRequest{Policy: tee.ByUniqueID, SecurityVersion: 2}, tee.ErrUnsupported},
		{"cpusvn-above", tee.KeyRequest{Policy: tee.ByUniqueID, CPUSVN: hi}, tee.ErrKeyRequest},
		{"cpusvn-below", tee.KeyRequest{Policy: tee.ByUniqueID, CPUSVN: [16]byte{1}}, tee.ErrUnsupported},
		{"bad-policy", tee.KeyRequest{Policy: 3}, tee.ErrKeyRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.SealKey(tc.req); !errors.Is(err, tc.want) {
				t.Errorf("SealKey = %v; want %v", err, tc.want)
			}
		})
	}
	t.Run("no-keys", func(t *testing.T) {
		dir, g := fakeTree(t, "dcap", false)
		p := open(t, dir, g)
		if _, err := p.SealKey(tee.KeyRequest{Policy: tee.ByUniqueID}); !errors.Is(err, tee.ErrUnsupported) {
			t.Errorf("SealKey without keys = %v; want ErrUnsupported", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	t.Run("none-attestation", func(t *testing.T) {
		dir, g := fakeTree(t, "none", true)
		p := open(t, dir, g)
		if _, err := p.Quote([64]byte{}); !errors.Is(err, tee.ErrUnsupported) {
			t.Errorf("Quote with attestation none = %v; want ErrUnsupported", err)
		}
	})
	t.Run("short-target-info", func(t *testing.T) {
		dir, g := fakeTree(t, "dcap", true)
		os.WriteFile(filepath.Join(dir, fileMyTargetInfo), make([]byte, 100), 0o600)
		r, _ := os.OpenRoot(dir)
		g.rootFS = rootFS{r}
		if _, err := newPlatform(g); !errors.Is(err, ErrDevice) {
			t.Errorf("newPlatform(short my_target_info) = %v; want ErrDevice", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Error("Open(missing) = nil error")
		}
	})
}
