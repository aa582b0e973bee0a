package edl

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden generates testdata/*.edl and compares the three files with
// testdata/<name>[+DEFINES].golden; -update rewrites them.
func TestGolden(t *testing.T) {
	tests := []struct {
		file    string
		defines []string
	}{
		{"hello.edl", nil},
		{"features.edl", nil},
		{"features.edl", []string{"WITH_EXTRA"}},
		{"intel.edl", nil},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.file, ".edl")
		for _, d := range tt.defines {
			name += "+" + d
		}
		t.Run(name, func(t *testing.T) {
			in, err := Load(filepath.Join("testdata", tt.file), Options{SearchPath: []string{"testdata/inc"}, Defines: tt.defines})
			if err != nil {
				t.Fatalf("Load(%s) = %v", tt.file, err)
			}
			out, err := Generate(in, GenOptions{})
			if err != nil {
				t.Fatalf("Generate(%s) = %v", tt.file, err)
			}
			var got bytes.Buffer
			for _, part := range [][]byte{out.Types, out.Trusted, out.Untrusted} {
				if !bytes.HasPrefix(part, []byte(Header+"\n")) {
					t.Errorf("generated file does not start with %q", Header)
				}
				got.Write(part)
				got.WriteString("// ----\n")
			}
			for _, w := range out.Warnings {
				got.WriteString("// " + w.String() + "\n")
			}
			again, err := Generate(in, GenOptions{})
			if err != nil || !bytes.Equal(again.Types, out.Types) || !bytes.Equal(again.Trusted, out.Trusted) || !bytes.Equal(again.Untrusted, out.Untrusted) {
				t.Fatalf("Generate is not deterministic")
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Generate(%s) differs from %s; run go test ./edl -run TestGolden -update and review the diff", tt.file, golden)
			}
		})
	}
}

// TestGeneratedUpToDate checks that the checked-in bindings in
// internal/rttest match what the generator produces now.
func TestGeneratedUpToDate(t *testing.T) {
	in, err := Load("internal/rttest/rt.edl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(in, GenOptions{Package: "rttest"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rt_types.go": out.Types, "rt_trusted.go": out.Trusted, "rt_untrusted.go": out.Untrusted} {
		have, err := os.ReadFile(filepath.Join("internal/rttest", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, data) {
			t.Errorf("internal/rttest/%s is stale; run go generate ./edl/...", name)
		}
	}
}
