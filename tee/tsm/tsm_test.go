package tsm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/confide-dev/confide/tee"
)

// fakeKernel plays configfs-tsm over a real directory tree: mkdir
// populates an entry's attributes, a write to inblob bumps generation and
// produces outblob, as the kernel's tsm report code does.
type fakeKernel struct {
	rootFS
	dir      string
	provider string
	// interfere bumps the generation after outblob is read, as another
	// writer would.
	interfere bool
	// noBump leaves generation unchanged after the inblob write.
	noBump bool
}

func (k *fakeKernel) Mkdir(name string) error {
	if err := k.rootFS.Mkdir(name); err != nil {
		return err
	}
	for f, v := range map[string]string{fileProvider: k.provider + "\n", fileGeneration: "0\n", fileInblob: "", fileOutblob: ""} {
		if err := os.WriteFile(filepath.Join(k.dir, name, f), []byte(v), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the entry as rmdir on configfs does (attributes vanish
// with the directory).
func (k *fakeKernel) Remove(name string) error { return os.RemoveAll(filepath.Join(k.dir, name)) }

func (k *fakeKernel) gen(entry string, delta int) {
	p := filepath.Join(k.dir, entry, fileGeneration)
	b, _ := os.ReadFile(p)
	g, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	os.WriteFile(p, []byte(strconv.Itoa(g+delta)+"\n"), 0o600)
}

func (k *fakeKernel) WriteFile(name string, data []byte) error {
	if err := k.rootFS.WriteFile(name, data); err != nil {
		return err
	}
	entry, attr := filepath.Split(name)
	if attr == fileInblob {
		if !k.noBump {
			k.gen(entry, 1)
		}
		report := append([]byte("FAKE-"+k.provider+"-REPORT:"), data...)
		os.WriteFile(filepath.Join(k.dir, entry, fileOutblob), report, 0o600)
	}
	return nil
}

func (k *fakeKernel) ReadFile(name string, max int) ([]byte, error) {
	b, err := k.rootFS.ReadFile(name, max)
	if entry, attr := filepath.Split(name); err == nil && attr == fileOutblob && k.interfere {
		k.gen(entry, 1)
	}
	return b, err
}

func newFake(t *testing.T, k *fakeKernel) *Platform {
	t.Helper()
	k.dir = filepath.Join(t.TempDir(), "sys/kernel/config/tsm/report")
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Open(k.dir, Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	k.rootFS = p.fs.(rootFS)
	p.fs = k
	return p
}

func TestQuote(t *testing.T) {
	for _, provider := range []string{"sev_guest", "tdx_guest"} {
		t.Run(provider, func(t *testing.T) {
			k := &fakeKernel{provider: provider}
			p := newFake(t, k)
			rd := [64]byte{1, 2, 3, 63: 9}
			ev, err := p.Evidence(rd)
			if err != nil {
				t.Fatalf("Evidence = %v", err)
			}
			want := append([]byte("FAKE-"+provider+"-REPORT:"), rd[:]...)
			if !bytes.Equal(ev.Outblob, want) || ev.Provider != provider || ev.Generation != 1 {
				t.Errorf("Evidence = %q, %q, gen %d; want %q, %q, gen 1", ev.Outblob, ev.Provider, ev.Generation, want, provider)
			}
			q, err := p.Quote(rd)
			if err != nil || !bytes.Equal(q, want) {
				t.Errorf("Quote = %q, %v; want %q", q, err, want)
			}
			ents, _ := os.ReadDir(k.dir)
			if len(ents) != 0 {
				t.Errorf("report entries left behind: %v", ents)
			}
		})
	}
}

func TestConflictAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    *fakeKernel
		want error
	}{
		{"interference", &fakeKernel{provider: "tdx_guest", interfere: true}, ErrConflict},
		{"no-generation-bump", &fakeKernel{provider: "tdx_guest", noBump: true}, ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFake(t, tc.k)
			if _, err := p.Quote([64]byte{}); !errors.Is(err, tc.want) {
				t.Errorf("Quote = %v; want %v", err, tc.want)
			}
		})
	}
	t.Run("bad-generation", func(t *testing.T) {
		k := &fakeKernel{provider: "sev_guest"}
		p := newFake(t, k)
		p.fs = badGen{k}
		if _, err := p.Quote([64]byte{}); !errors.Is(err, ErrDevice) {
			t.Errorf("Quote = %v; want ErrDevice", err)
		}
	})
	t.Run("missing-dir", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "nope"), Options{}); err == nil {
			t.Error("Open(missing dir) = nil error")
		}
	})
	t.Run("plain-dir-no-kernel", func(t *testing.T) {
		// A directory where mkdir does not populate attributes (not
		// configfs) fails cleanly.
		p, err := Open(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Quote([64]byte{}); err == nil {
			t.Error("Quote on a plain directory = nil error")
		}
	})
}

type badGen struct{ *fakeKernel }

func (b badGen) ReadFile(name string, max int) ([]byte, error) {
	if strings.HasSuffix(name, fileGeneration) {
		return []byte("zero\n"), nil
	}
	return b.fakeKernel.ReadFile(name, max)
}

func TestUnsupported(t *testing.T) {
	p := newFake(t, &fakeKernel{provider: "sev_guest"})
	if p.Info().Name != "tsm" || p.Info().Simulated {
		t.Errorf("Info() = %+v; want tsm, not simulated", p.Info())
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"TargetInfo", func() error { _, err := p.TargetInfo(); return err }()},
		{"Report", func() error { _, err := p.Report(make([]byte, 512), [64]byte{}); return err }()},
		{"VerifyReport", p.VerifyReport(make([]byte, 432))},
		{"SealKey", func() error { _, err := p.SealKey(tee.KeyRequest{Policy: tee.ByUniqueID}); return err }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tee.ErrUnsupported) {
				t.Errorf("%s = %v; want ErrUnsupported", tc.name, tc.err)
			}
		})
	}
}

func TestParseGeneration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0\n", 0, true},
		{"17\n", 17, true},
		{"17", 0, false},
		{"\n", 0, false},
		{" 1\n", 0, false},
		{"-1\n", 0, false},
		{"1\n\n", 0, false},
		{"99999999999999999999999\n", 0, false},
	} {
		t.Run(strings.TrimSpace(tc.in), func(t *testing.T) {
			got, err := parseGeneration([]byte(tc.in))
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("parseGeneration(%q) = %d, %v; want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrDevice) {
				t.Errorf("parseGeneration(%q) error = %v; want ErrDevice", tc.in, err)
			}
		})
	}
}

// FuzzParseGeneration is seeded with the kernel's output format ("%u\n").
func FuzzParseGeneration(f *testing.F) {
	for _, s := range []string{"0\n", "1\n", "4294967295\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseGeneration(b)
		if err != nil {
			return
		}
		// Accepted input is digits and a newline denoting g.
		want, perr := strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
		if perr != nil || want != g || !strings.HasSuffix(string(b), "\n") {
			t.Errorf("parseGeneration(%q) = %d", b, g)
		}
	})
}
