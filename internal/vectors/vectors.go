// Package vectors locates the real TEE evidence and Always Encrypted test
// vectors that live outside the repository, in ../shared/vectors.
//
// Tests call Dir (or Path) and are skipped with a clear message when the
// directory is absent. The files are never copied into the repository.
package vectors

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvVar names the environment variable that overrides the vectors directory.
const EnvVar = "CONFIDE_VECTORS"

// Find returns the vectors directory and whether it exists: $CONFIDE_VECTORS
// if set, else ../shared/vectors next to the repository.
func Find() (string, bool) {
	if d := os.Getenv(EnvVar); d != "" {
		st, err := os.Stat(d)
		return d, err == nil && st.IsDir()
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	// internal/vectors/vectors.go -> repository root -> ../shared/vectors
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	d, err := filepath.Abs(filepath.Join(root, "..", "shared", "vectors"))
	if err != nil {
		return "", false
	}
	st, err := os.Stat(d)
	return d, err == nil && st.IsDir()
}

// Dir returns the vectors directory, or skips t when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	d, ok := Find()
	if !ok {
		t.Skipf("vectors: %q is not a directory (set %s); skipping test that needs real evidence", d, EnvVar)
	}
	return d
}

// Path returns the path of a file under the vectors directory, skipping t
// when the directory or the file is absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("vectors: %s not present; skipping", rel)
	}
	return p
}

// Read returns the contents of a file under the vectors directory, skipping
// t when it is absent.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, rel))
	if err != nil {
		t.Fatalf("vectors: read %s: %v", rel, err)
	}
	return b
}

// EDLDir returns ../shared/edl (override with CONFIDE_EDL), or skips t.
func EDLDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CONFIDE_EDL"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	d := filepath.Join(root, "..", "shared", "edl")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		t.Skipf("vectors: ../shared/edl not found (set CONFIDE_EDL); skipping")
	}
	return d
}
