// Package gramine is a tee.Platform over Gramine's /dev/attestation
// pseudo-files, for Go enclaves running under Gramine-SGX: write
// user_report_data (64 bytes) and target_info (512), read report (432) or
// quote; read my_target_info; read the seal keys keys/_sgx_mrenclave and
// keys/_sgx_mrsigner (16 bytes each).
//
// Open reads everything that does not change (its own TARGETINFO, its own
// REPORT for the CPUSVN and ISVSVN, the attestation type, the seal keys).
// Report and Quote must write and read the pseudo-files each time, because
// Gramine produces their content when they are opened; they do so through
// an os.Root opened by Open.
package gramine

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/confide-dev/confide/tee"
)

// DefaultDir is Gramine's attestation pseudo-directory.
const DefaultDir = "/dev/attestation"

// Pseudo-file names under the attestation directory (Gramine
// documentation, "Attestation and Secret Provisioning").
const (
	fileAttestationType = "attestation_type"
	fileUserReportData  = "user_report_data"
	fileTargetInfo      = "target_info"
	fileMyTargetInfo    = "my_target_info"
	fileReport          = "report"
	fileQuote           = "quote"
	fileKeyMREnclave    = "keys/_sgx_mrenclave"
	fileKeyMRSigner     = "keys/_sgx_mrsigner"
	maxQuote            = 64 << 10
	keySize             = 16
	reportCPUSVN        = 0
	reportISVSVN        = 258
)

// ErrDevice is returned for pseudo-file content of an unexpected size or
// form.
var ErrDevice = errors.New("gramine: unexpected /dev/attestation content")

type fsys interface {
	WriteFile(name string, data []byte) error
	ReadFile(name string, max int) ([]byte, error)
}

type rootFS struct{ r *os.Root }

func (f rootFS) WriteFile(name string, data []byte) error {
	w, err := f.r.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (f rootFS) ReadFile(name string, max int) ([]byte, error) {
	r, err := f.r.Open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %s larger than %d bytes", ErrDevice, name, max)
	}
	return b, nil
}

// Platform is Gramine-SGX as seen by the enclave it runs. It is safe for
// concurrent use: write-then-read sequences are serialised.
type Platform struct {
	mu              sync.Mutex
	fs              fsys
	attestationType string
	myTargetInfo    []byte
	cpusvn          [16]byte
	isvsvn          uint16
	keyMREnclave    []byte // nil when Gramine does not expose it
	keyMRSigner     []byte
}

var _ tee.Platform = (*Platform)(nil)

// Open returns the platform over the attestation directory dir ("" means
// DefaultDir).
func Open(dir string) (*Platform, error) {
	if dir == "" {
		dir = DefaultDir
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("gramine: open %s: %w", dir, err)
	}
	return newPlatform(rootFS{r})
}

func newPlatform(f fsys) (*Platform, error) {
	p := &Platform{fs: f}
	if b, err := f.ReadFile(fileAttestationType, 64); err == nil {
		p.attestationType = strings.TrimSpace(string(b))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("gramine: read %s: %w", fileAttestationType, err)
	}
	ti, err := f.ReadFile(fileMyTargetInfo, tee.TargetInfoSize)
	if err != nil {
		return nil, fmt.Errorf("gramine: read %s: %w", fileMyTargetInfo, err)
	}
	if len(ti) != tee.TargetInfoSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrDevice, fileMyTargetInfo, len(ti), tee.TargetInfoSize)
	}
	p.myTargetInfo = ti
	own, err := p.Report(ti, [tee.ReportDataSize]byte{})
	if err != nil {
		return nil, err
	}
	copy(p.cpusvn[:], own[reportCPUSVN:])
	p.isvsvn = binary.LittleEndian.Uint16(own[reportISVSVN:])
	for _, k := range []struct {
		name string
		dst  *[]byte
	}{{fileKeyMREnclave, &p.keyMREnclave}, {fileKeyMRSigner, &p.keyMRSigner}} {
		b, err := f.ReadFile(k.name, keySize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("gramine: read %s: %w", k.name, err)
		}
		if len(b) != keySize {
			return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrDevice, k.name, len(b), keySize)
		}
		*k.dst = b
	}
	return p, nil
}

// Info describes the platform: Name "gramine", Simulated false.
func (p *Platform) Info() tee.Info {
	return tee.Info{Name: tee.NameGramine, CPUSVN: p.cpusvn}
}

// AttestationType is Gramine's attestation type ("dcap", "epid", "none"),
// "" when Gramine does not say.
func (p *Platform) AttestationType() string { return p.attestationType }

// TargetInfo returns the enclave's own TARGETINFO (my_target_info).
func (p *Platform) TargetInfo() ([]byte, error) {
	return append([]byte(nil), p.myTargetInfo...), nil
}

// Report writes reportData and target, then reads the REPORT Gramine
// makes with EREPORT.
func (p *Platform) Report(target []byte, reportData [tee.ReportDataSize]byte) ([]byte, error) {
	if len(target) != tee.TargetInfoSize {
		return nil, fmt.Errorf("gramine: targetinfo is %d bytes, want %d", len(target), tee.TargetInfoSize)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fs.WriteFile(fileUserReportData, reportData[:]); err != nil {
		return nil, fmt.Errorf("gramine: write %s: %w", fileUserReportData, err)
	}
	if err := p.fs.WriteFile(fileTargetInfo, target); err != nil {
		return nil, fmt.Errorf("gramine: write %s: %w", fileTargetInfo, err)
	}
	r, err := p.fs.ReadFile(fileReport, tee.ReportSize)
	if err != nil {
		return nil, fmt.Errorf("gramine: read %s: %w", fileReport, err)
	}
	if len(r) != tee.ReportSize {
		return nil, fmt.Errorf("%w: report is %d bytes, want %d", ErrDevice, len(r), tee.ReportSize)
	}
	return r, nil
}

// VerifyReport returns tee.ErrUnsupported: Gramine exposes no report key.
func (p *Platform) VerifyReport([]byte) error { return tee.ErrUnsupported }

// Quote writes reportData to user_report_data and reads the quote.
func (p *Platform) Quote(reportData [tee.ReportDataSize]byte) ([]byte, error) {
	if p.attestationType == "none" {
		return nil, fmt.Errorf("%w: gramine attestation type is none", tee.ErrUnsupported)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fs.WriteFile(fileUserReportData, reportData[:]); err != nil {
		return nil, fmt.Errorf("gramine: write %s: %w", fileUserReportData, err)
	}
	q, err := p.fs.ReadFile(fileQuote, maxQuote)
	if err != nil {
		return nil, fmt.Errorf("gramine: read %s: %w", fileQuote, err)
	}
	if len(q) == 0 {
		return nil, fmt.Errorf("%w: empty quote", ErrDevice)
	}
	return q, nil
}

// SealKey derives a 16-byte key from Gramine's seal key for the policy
// (_sgx_mrenclave or _sgx_mrsigner) and req.KeyID. Gramine's keys are for
// the enclave's current ISVSVN and the platform's current CPUSVN only, so
// a request for lower ones returns tee.ErrUnsupported, higher ones
// tee.ErrKeyRequest.
func (p *Platform) SealKey(req tee.KeyRequest) ([]byte, error) {
	var base []byte
	switch req.Policy {
	case tee.ByUniqueID:
		base = p.keyMREnclave
	case tee.BySigner:
		base = p.keyMRSigner
	default:
		return nil, fmt.Errorf("%w: key policy %#x", tee.ErrKeyRequest, uint16(req.Policy))
	}
	if base == nil {
		return nil, fmt.Errorf("%w: gramine exposes no seal key for policy %#x", tee.ErrUnsupported, uint16(req.Policy))
	}
	switch {
	case req.SecurityVersion > p.isvsvn:
		return nil, fmt.Errorf("%w: security version %d above the enclave's %d", tee.ErrKeyRequest, req.SecurityVersion, p.isvsvn)
	case req.SecurityVersion != 0 && req.SecurityVersion != p.isvsvn:
		return nil, fmt.Errorf("%w: gramine derives keys for the current security version only", tee.ErrUnsupported)
	}
	if req.CPUSVN != ([16]byte{}) && req.CPUSVN != p.cpusvn {
		for i := range req.CPUSVN {
			if req.CPUSVN[i] > p.cpusvn[i] {
				return nil, fmt.Errorf("%w: cpusvn above the platform's", tee.ErrKeyRequest)
			}
		}
		return nil, fmt.Errorf("%w: gramine derives keys for the current cpusvn only", tee.ErrUnsupported)
	}
	return hkdf.Key(sha256.New, base, nil, "confide gramine seal key v1\x00"+string(req.KeyID[:]), keySize)
}
