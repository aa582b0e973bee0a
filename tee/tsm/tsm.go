// Package tsm is a tee.Platform over Linux configfs-tsm
// (/sys/kernel/config/tsm/report), the kernel's common interface to
// confidential-VM attestation reports: SEV-SNP attestation reports
// (provider sev_guest) and TDX quotes (provider tdx_guest).
//
// A report is requested by creating a report entry directory, writing the
// 64 bytes of report data to its inblob attribute, and reading outblob;
// the generation attribute detects another writer changing the entry in
// between (Documentation/ABI/testing/configfs-tsm-report in the kernel).
//
// Confidential VMs have no enclave-local reports or seal keys, so
// TargetInfo, Report, VerifyReport and SealKey return tee.ErrUnsupported.
//
// configfs attributes only act when files are opened, written and closed,
// so Quote opens files under the report directory (through an os.Root
// opened by Open) each time it is called.
package tsm

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/confide-dev/confide/tee"
)

// DefaultDir is the configfs-tsm report directory.
const DefaultDir = "/sys/kernel/config/tsm/report"

// Attribute files of a report entry.
const (
	fileInblob     = "inblob"
	fileOutblob    = "outblob"
	fileAuxblob    = "auxblob"
	fileProvider   = "provider"
	fileGeneration = "generation"
	// maxBlob bounds what is read from outblob and auxblob.
	maxBlob = 1 << 20
)

// Errors returned by this package.
var (
	// ErrConflict is returned when the report entry's generation changed
	// while the report was being read: another writer interfered.
	ErrConflict = errors.New("tsm: report entry changed while reading (generation mismatch)")
	// ErrDevice is returned for unexpected content in configfs attributes.
	ErrDevice = errors.New("tsm: unexpected configfs-tsm content")
)

// fsys is the file-system access the platform needs; tests replace it
// with a fake kernel.
type fsys interface {
	Mkdir(name string) error
	Remove(name string) error
	WriteFile(name string, data []byte) error
	ReadFile(name string, max int) ([]byte, error)
}

type rootFS struct{ r *os.Root }

func (f rootFS) Mkdir(name string) error  { return f.r.Mkdir(name, 0o700) }
func (f rootFS) Remove(name string) error { return f.r.Remove(name) }
func (f rootFS) WriteFile(name string, data []byte) error {
	w, err := f.r.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close() // configfs binary attributes commit on close
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

// Options controls a Platform.
type Options struct {
	// Rand names report entries; nil means crypto/rand.
	Rand io.Reader
}

// Platform is a confidential VM's attestation through configfs-tsm.
type Platform struct {
	fs   fsys
	rand io.Reader
}

var _ tee.Platform = (*Platform)(nil)

// Open returns the platform over the configfs-tsm report directory dir
// ("" means DefaultDir).
func Open(dir string, opts Options) (*Platform, error) {
	if dir == "" {
		dir = DefaultDir
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tsm: open %s: %w", dir, err)
	}
	p := &Platform{fs: rootFS{r}, rand: opts.Rand}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	return p, nil
}

// Info describes the platform: Name "tsm", Simulated false.
func (p *Platform) Info() tee.Info { return tee.Info{Name: tee.NameTSM} }

// TargetInfo returns tee.ErrUnsupported.
func (p *Platform) TargetInfo() ([]byte, error) { return nil, tee.ErrUnsupported }

// Report returns tee.ErrUnsupported.
func (p *Platform) Report([]byte, [tee.ReportDataSize]byte) ([]byte, error) {
	return nil, tee.ErrUnsupported
}

// VerifyReport returns tee.ErrUnsupported.
func (p *Platform) VerifyReport([]byte) error { return tee.ErrUnsupported }

// SealKey returns tee.ErrUnsupported.
func (p *Platform) SealKey(tee.KeyRequest) ([]byte, error) { return nil, tee.ErrUnsupported }

// Evidence is what one configfs-tsm report entry produced.
type Evidence struct {
	// Provider is the kernel driver that made it: "sev_guest" or "tdx_guest".
	Provider string
	// Outblob is the attestation report (SNP) or quote (TDX).
	Outblob []byte
	// Auxblob is auxiliary data (SNP certificate table), nil when absent.
	Auxblob []byte
	// Generation is the entry's generation when outblob was read.
	Generation uint64
}

// Quote returns the outblob of a fresh report entry for reportData.
func (p *Platform) Quote(reportData [tee.ReportDataSize]byte) ([]byte, error) {
	ev, err := p.Evidence(reportData)
	if err != nil {
		return nil, err
	}
	return ev.Outblob, nil
}

// Evidence creates a report entry, writes reportData to inblob, reads
// outblob, auxblob and provider, checks that the generation advanced by
// exactly our write and did not change while reading, and removes the
// entry.
func (p *Platform) Evidence(reportData [tee.ReportDataSize]byte) (Evidence, error) {
	var ev Evidence
	var rnd [8]byte
	if _, err := io.ReadFull(p.rand, rnd[:]); err != nil {
		return ev, fmt.Errorf("tsm: random: %w", err)
	}
	name := "confide-" + hex.EncodeToString(rnd[:])
	if err := p.fs.Mkdir(name); err != nil {
		return ev, fmt.Errorf("tsm: create report entry: %w", err)
	}
	defer p.fs.Remove(name)
	g0, err := p.generation(name)
	if err != nil {
		return ev, err
	}
	if err := p.fs.WriteFile(name+"/"+fileInblob, reportData[:]); err != nil {
		return ev, fmt.Errorf("tsm: write inblob: %w", err)
	}
	g1, err := p.generation(name)
	if err != nil {
		return ev, err
	}
	if g1 != g0+1 {
		return ev, fmt.Errorf("%w: generation %d after our write, want %d", ErrConflict, g1, g0+1)
	}
	if ev.Outblob, err = p.fs.ReadFile(name+"/"+fileOutblob, maxBlob); err != nil {
		return ev, fmt.Errorf("tsm: read outblob: %w", err)
	}
	if len(ev.Outblob) == 0 {
		return ev, fmt.Errorf("%w: empty outblob", ErrDevice)
	}
	if aux, err := p.fs.ReadFile(name+"/"+fileAuxblob, maxBlob); err == nil && len(aux) > 0 {
		ev.Auxblob = aux
	}
	prov, err := p.fs.ReadFile(name+"/"+fileProvider, 256)
	if err != nil {
		return ev, fmt.Errorf("tsm: read provider: %w", err)
	}
	ev.Provider = string(bytes.TrimSpace(prov))
	g2, err := p.generation(name)
	if err != nil {
		return ev, err
	}
	if g2 != g1 {
		return ev, fmt.Errorf("%w: generation %d, then %d", ErrConflict, g1, g2)
	}
	ev.Generation = g2
	return ev, nil
}

func (p *Platform) generation(name string) (uint64, error) {
	b, err := p.fs.ReadFile(name+"/"+fileGeneration, 32)
	if err != nil {
		return 0, fmt.Errorf("tsm: read generation: %w", err)
	}
	return parseGeneration(b)
}

// parseGeneration parses the generation attribute: a decimal number and a
// newline, as the kernel prints it ("%u\n").
func parseGeneration(b []byte) (uint64, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok || s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: generation %q", ErrDevice, b)
	}
	g, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: generation %q", ErrDevice, b)
	}
	return g, nil
}
