package edl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/confide-dev/confide/internal/vectors"
)

var ifdefRE = regexp.MustCompile(`(?m)^\s*#\s*if(?:n?def)\s+(\w+)`)

type compatCase struct {
	name       string
	path       string
	defines    []string
	searchPath []string
}

// compatCases lists every .edl under the shared EDL directory, once without
// symbols and, for files with #ifdef, once more with all their symbols.
func compatCases(t testing.TB, dir string) []compatCase {
	var cases []compatCase
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".edl") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		cases = append(cases, compatCase{name: rel, path: p})
		var syms []string
		for _, m := range ifdefRE.FindAllStringSubmatch(string(src), -1) {
			syms = append(syms, m[1])
		}
		if len(syms) > 0 {
			sort.Strings(syms)
			cases = append(cases, compatCase{name: rel + "+" + strings.Join(syms, "+"), path: p, defines: syms})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

func sharedSearchPath(dir string) []string {
	return []string{filepath.Join(dir, "openenclave/include"), filepath.Join(dir, "openenclave/include/openenclave/edl/sgx")}
}

// TestCompatSharedEDL generates both sides for every shared EDL file and
// compiles and vets the result (go vet) against the real host, enclave and
// wire packages.
func TestCompatSharedEDL(t *testing.T) {
	dir := vectors.EDLDir(t)
	manifest := map[string]string{}
	if data, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err == nil {
		var entries []struct {
			Files    []string `json:"files"`
			Expected string   `json:"expected"`
		}
		if err := json.Unmarshal(data, &entries); err == nil {
			for _, e := range entries {
				for _, f := range e.Files {
					manifest[filepath.Clean(f)] = e.Expected
				}
			}
		}
	}
	cases := compatCases(t, dir)
	if len(cases) == 0 {
		t.Fatal("no EDL files found")
	}
	shared := len(cases)
	// The golden inputs must compile too.
	local := []compatCase{
		{name: "testdata/hello.edl", path: "testdata/hello.edl"},
		{name: "testdata/features.edl", path: "testdata/features.edl", searchPath: []string{"testdata/inc"}},
		{name: "testdata/intel.edl", path: "testdata/intel.edl"},
		{name: "testdata/features.edl+WITH_EXTRA", path: "testdata/features.edl", searchPath: []string{"testdata/inc"}, defines: []string{"WITH_EXTRA"}},
	}
	for i := range cases {
		cases[i].searchPath = sharedSearchPath(dir)
	}
	cases = append(cases, local...)
	// Generated code goes into a throwaway module that requires this one
	// through a replace directive, so nothing is written into the tree.
	tmp := t.TempDir()
	modDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod := fmt.Sprintf("module compatcheck\n\ngo 1.26\n\nrequire github.com/confide-dev/confide v0.0.0\n\nreplace github.com/confide-dev/confide => %s\n", modDir)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, err := os.ReadFile(filepath.Join(modDir, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var pkgs []string
	generated, diagnosed := 0, 0
	for i, c := range cases {
		in, err := Load(c.path, Options{SearchPath: c.searchPath, Defines: c.defines})
		if err == nil {
			var out *Output
			out, err = Generate(in, GenOptions{Package: fmt.Sprintf("p%d", i)})
			if err == nil {
				if i < shared {
					generated++
				}
				pkgDir := filepath.Join(tmp, fmt.Sprintf("p%d", i))
				if err := os.MkdirAll(pkgDir, 0o755); err != nil {
					t.Fatal(err)
				}
				for suffix, data := range map[string][]byte{"_types.go": out.Types, "_trusted.go": out.Trusted, "_untrusted.go": out.Untrusted} {
					if err := os.WriteFile(filepath.Join(pkgDir, "gen"+suffix), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				pkgs = append(pkgs, fmt.Sprintf("./p%d", i))
				continue
			}
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error without position: %v", c.name, err)
			continue
		}
		if i < shared {
			diagnosed++
		}
		if manifest[filepath.Clean(c.name)] == "generate" {
			t.Errorf("%s: manifest expects generate, got diagnostic %v", c.name, err)
		}
	}
	t.Logf("%d shared EDL variants: %d generate, %d give diagnostics", shared, generated, diagnosed)
	if testing.Short() {
		t.Skip("skipping go vet of generated code in -short mode")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, append([]string{"vet"}, pkgs...)...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet of generated code failed: %v\n%s", err, out)
	}
}
