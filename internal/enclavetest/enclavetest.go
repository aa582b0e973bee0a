// Package enclavetest builds and signs enclave programs for tests.
package enclavetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/harden"
)

// TestEnclave is the import path of the test enclave program.
const TestEnclave = "github.com/confide-dev/confide/internal/enclavetest/testenclave"

var (
	mu    sync.Mutex
	built = map[string]string{} // package -> unsigned binary path
)

// Binary builds the Go main package pkg as a static binary, once per test
// process, and returns its path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "confide-enclavetest-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(goTool(), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enclavetest: go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// Key returns a fresh P-256 signing key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Signed builds pkg, signs it with key and cfg, and returns the path of the
// signed image in a temporary directory of t.
func Signed(t testing.TB, pkg string, cfg image.Config, key *ecdsa.PrivateKey) string {
	t.Helper()
	bin, err := os.ReadFile(Binary(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		key = Key(t)
	}
	signed, err := image.Sign(bin, cfg, key)
	if err != nil {
		t.Fatalf("enclavetest: sign: %v", err)
	}
	p := filepath.Join(t.TempDir(), "enclave.signed")
	if err := os.WriteFile(p, signed, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Config returns a release config with n TCS.
func Config(n uint32) image.Config {
	c := image.DefaultConfig()
	c.NumTCS = n
	c.Debug = false
	return c
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

var (
	simOnce sync.Once
	simDir  string
)

// SimDir returns a simulated-platform state directory shared by the tests
// of this process (created on first use by the platform itself).
func SimDir(t testing.TB) string {
	t.Helper()
	simOnce.Do(func() {
		d, err := os.MkdirTemp("", "confide-sim-")
		if err == nil {
			simDir = filepath.Join(d, "sim")
		}
	})
	if simDir == "" {
		t.Fatal("enclavetest: cannot create a temporary directory")
	}
	return simDir
}

// RequireSelfEnclave skips t when the test binary itself cannot serve as an
// enclave: an enclave hardens its process on start, which is impossible in
// a binary that links cgo (see internal/harden). scripts/test runs these
// tests with CGO_ENABLED=0, so CI exercises them.
func RequireSelfEnclave(t testing.TB) {
	t.Helper()
	if err := harden.Check(); err != nil {
		t.Skipf("this test binary cannot run as an enclave (%v); run the tests with CGO_ENABLED=0, as scripts/test does", err)
	}
}
