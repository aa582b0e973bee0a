package edl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/internal/vectors"
)

func TestParseSeed(t *testing.T) {
	src := `enclave { trusted { public void enclave_message(); }; untrusted { void host_acknowledgment(); }; };`
	f, err := Parse("seed.edl", []byte(src), nil)
	if err != nil {
		t.Fatalf("Parse(seed) = %v", err)
	}
	if len(f.Trusted) != 1 || f.Trusted[0].Name != "enclave_message" || !f.Trusted[0].Public {
		t.Fatalf("Parse(seed).Trusted = %+v; want public enclave_message", f.Trusted)
	}
	if len(f.Untrusted) != 1 || f.Untrusted[0].Name != "host_acknowledgment" {
		t.Fatalf("Parse(seed).Untrusted = %+v; want host_acknowledgment", f.Untrusted)
	}
}

func TestParseConstructs(t *testing.T) {
	src := `enclave {
    include "a.h" // comment
    /* block
       comment */
    from "x.edl" import f, g;
    from "y.edl" import *;
    struct s { [size=n*2] uint8_t* p; size_t n; unsigned long long int v; int arr[2][3]; };
    enum e { A, B = 0x10, C = B + 1 };
    trusted {
        public int fn([in, out, count=n] const struct s* a, size_t n, [in, string] const char* str,
                      [user_check] void* u, [in, wstring] wchar_t* w, [isary, in, size=8] arr_t x,
                      [in, readonly] const int* ro) transition_using_threads;
    };
    untrusted { void cb(void) propagate_errno allow(fn) switchless; };
};`
	f, err := Parse("c.edl", []byte(src), nil)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if len(f.Imports) != 2 || f.Imports[0].Path != "x.edl" || strings.Join(f.Imports[0].Names, ",") != "f,g" || f.Imports[1].Names != nil {
		t.Errorf("imports = %+v; want x.edl f,g and y.edl *", f.Imports)
	}
	s := f.Types[0]
	if s.Fields[0].Attrs.Size == nil || s.Fields[0].Attrs.Size.Op != '*' || s.Fields[2].Type.Name != "unsigned long long" || len(s.Fields[3].Dims) != 2 {
		t.Errorf("struct s parsed wrong: %+v", s.Fields)
	}
	fn := f.Trusted[0]
	if !fn.Switchless || len(fn.Params) != 7 || !fn.Params[0].Attrs.In || !fn.Params[0].Attrs.Out || fn.Params[0].Type.Tag != "struct" {
		t.Errorf("fn parsed wrong: %+v", fn)
	}
	if fn.Params[0].Pos.Line != 10 {
		t.Errorf("param a at line %d; want 10", fn.Params[0].Pos.Line)
	}
	cb := f.Untrusted[0]
	if !cb.PropagateErrno || !cb.Switchless || len(cb.Allow) != 1 || len(cb.Params) != 0 {
		t.Errorf("cb parsed wrong: %+v", cb)
	}
}

func TestPreprocessor(t *testing.T) {
	src := `enclave {
#ifdef A
    trusted { public void a(); };
#else
    trusted { public void not_a(); };
#endif
#ifndef B
    untrusted { void not_b(); };
#endif
};`
	tests := []struct {
		name    string
		defines []string
		want    string
	}{
		{"none", nil, "not_a,not_b"},
		{"A", []string{"A"}, "a,not_b"},
		{"A and B", []string{"A", "B"}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("p.edl", []byte(src), tt.defines)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, fn := range append(f.Trusted, f.Untrusted...) {
				names = append(names, fn.Name)
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("functions with %v = %s; want %s", tt.defines, got, tt.want)
			}
		})
	}
}

func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		kind      error
		line, col int
	}{
		{"missing enclave", "trusted {};", ErrSyntax, 1, 1},
		{"unterminated comment", "enclave { /* x", ErrSyntax, 1, 11},
		{"unknown attribute", "enclave {\n trusted { public void f([inn] int* p); };\n};", ErrSyntax, 2, 27},
		{"unterminated ifdef", "#ifdef X\nenclave {};", ErrSyntax, 1, 1},
		{"else without ifdef", "enclave {\n#else\n};", ErrSyntax, 2, 1},
		{"unsupported directive", "#include <x.h>\nenclave {};", ErrUnsupported, 1, 1},
		{"trailing text", "enclave {}; extra", ErrSyntax, 1, 13},
		{"bad char", "enclave { @ };", ErrSyntax, 1, 11},
		{"unnamed parameter", "enclave { trusted { public void f(int); }; };", ErrUnsupported, 1, 38},
		{"public untrusted", "enclave { untrusted { public void f(); }; };", ErrSyntax, 1, 23},
		{"sizefunc", "enclave { trusted { public void f([in, sizefunc=g] int* p); }; };", ErrUnsupported, 1, 40},
		{"unknown function attribute", "enclave { untrusted { [fancy] void f(); }; };", ErrSyntax, 1, 24},
		{"deep expression", "enclave { trusted { public void f([in, size=" + strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100) + "] int* p); }; };", ErrSyntax, 1, 45 + 64}, // the 65th parenthesis
		{"bad integer type", "enclave { trusted { public void f(unsigned signed x); }; };", ErrSyntax, 1, 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("d.edl", []byte(tt.src), nil)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.kind) {
				t.Fatalf("Parse(%q) = %v; want *Error wrapping %v", tt.src, err, tt.kind)
			}
			if e.Pos.Line != tt.line || e.Pos.Col != tt.col {
				t.Errorf("Parse(%q) position = %d:%d; want %d:%d (%v)", tt.src, e.Pos.Line, e.Pos.Col, tt.line, tt.col, err)
			}
			if !strings.HasPrefix(err.Error(), "d.edl:") {
				t.Errorf("message %q does not start with file:line:col", err)
			}
		})
	}
}

// TestGenerateDiagnostics covers constructs that cannot cross a process
// boundary: each must be an *Error with a position and a hint.
func TestGenerateDiagnostics(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"pointer without direction", "trusted { public void f(int* p); };"},
		{"void pointer without size", "trusted { public void f([in] void* p); };"},
		{"pointer to pointer", "trusted { public void f([in] char** p); };"},
		{"out pointer array", "trusted { public void f([out, count=n] void** p, size_t n); };"},
		{"out string", "trusted { public void f([out, string] char* s); };"},
		{"string on int", "trusted { public void f([in, string] int* s); };"},
		{"size names a pointer", "trusted { public void f([in, size=q] uint8_t* p, [in] size_t* q); };"},
		{"size names nothing", "trusted { public void f([in, size=nope] uint8_t* p); };"},
		{"sizeof struct", "struct s { int a; }; trusted { public void f([in, size=sizeof(struct s)] uint8_t* p); };"},
		{"isary without size", "trusted { public void f([in, isary] arr_t a); };"},
		{"user_check with in", "trusted { public void f([user_check, in] void* p); };"},
		{"enum value from unknown macro", "enum e { A = SOME_MACRO }; trusted { public void f(); };"},
		{"enum product overflows", "enum e { A = 0x100000000 * 0x100000000 }; trusted { public void f(); };"},
		{"too many dimensions", "struct s { int a[1][1][1][1][1][1][1][1][1]; }; trusted { public void f(); };"},
		{"enum out of int32", "enum e { A = 0x100000000 }; trusted { public void f(); };"},
		{"union with slice", "union u { [size=n] uint8_t* p; size_t n; }; trusted { public void f(); };"},
		{"Go name collision", "struct trusted_t { int a; }; struct TrustedT { int b; }; trusted { public void f(); };"},
		{"out on value", "trusted { public void f([out] int x); };"},
		{"string member", "struct s { [string] char* p; }; trusted { public void f(); };"},
		{"self-containing struct", "struct s { int a; s inner; }; trusted { public void f(); };"},
		{"allow of unknown", "trusted { public void f(); }; untrusted { void g() allow(h); };"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "g.edl")
			if err := os.WriteFile(p, []byte("enclave {\n"+tt.body+"\n};\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			in, err := Load(p, Options{})
			if err == nil {
				_, err = Generate(in, GenOptions{})
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Generate(%s) = %v; want *Error", tt.body, err)
			}
			if e.Pos.Line != 2 || e.Pos.Col < 1 || e.Pos.File != p {
				t.Errorf("Generate(%s) position = %v; want line 2 of %s", tt.body, e.Pos, p)
			}
		})
	}
}

func TestLoadImports(t *testing.T) {
	write := func(dir, name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("order and selective", func(t *testing.T) {
		dir := t.TempDir()
		write(dir, "lib/b.edl", `enclave { trusted { public void b1(); public void b2(); }; untrusted { void ub(); }; };`)
		write(dir, "a.edl", `enclave { trusted { public void a0(); }; from "b.edl" import b2, ub; trusted { public void a1(); }; };`)
		in, err := Load(filepath.Join(dir, "a.edl"), Options{SearchPath: []string{filepath.Join(dir, "lib")}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range in.Trusted {
			got = append(got, f.Name)
		}
		// imports take effect before the file's own declarations
		if strings.Join(got, ",") != "b2,a0,a1" || len(in.Untrusted) != 1 {
			t.Fatalf("trusted = %v, untrusted %d; want b2,a0,a1 and 1", got, len(in.Untrusted))
		}
	})
	t.Run("cycle", func(t *testing.T) {
		dir := t.TempDir()
		write(dir, "a.edl", `enclave { from "b.edl" import *; };`)
		write(dir, "b.edl", `enclave { from "a.edl" import *; };`)
		_, err := Load(filepath.Join(dir, "a.edl"), Options{})
		var e *Error
		// The cycle closes at b.edl's import of a.edl.
		if !errors.Is(err, ErrImport) || !errors.As(err, &e) || filepath.Base(e.Pos.File) != "b.edl" || e.Pos.Col != 11 {
			t.Fatalf("Load(cycle) = %v; want ErrImport at b.edl:1:11", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		write(dir, "a.edl", `enclave { from "nope.edl" import *; };`)
		_, err := Load(filepath.Join(dir, "a.edl"), Options{})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrImport) || e.Pos.Line != 1 || e.Pos.Col != 11 {
			t.Fatalf("Load(missing) = %v; want ErrImport at 1:11", err)
		}
	})
	t.Run("unknown name", func(t *testing.T) {
		dir := t.TempDir()
		write(dir, "b.edl", `enclave { trusted { public void b1(); }; };`)
		write(dir, "a.edl", `enclave { from "b.edl" import zz; };`)
		if _, err := Load(filepath.Join(dir, "a.edl"), Options{}); !errors.Is(err, ErrImport) {
			t.Fatalf("Load = %v; want ErrImport", err)
		}
	})
	t.Run("diamond keeps first", func(t *testing.T) {
		dir := t.TempDir()
		write(dir, "d.edl", `enclave { struct d_t { int x; }; untrusted { void d(); }; };`)
		write(dir, "b.edl", `enclave { from "d.edl" import *; };`)
		write(dir, "c.edl", `enclave { from "d.edl" import *; untrusted { void c(); }; };`)
		write(dir, "a.edl", `enclave { from "b.edl" import *; from "c.edl" import *; };`)
		in, err := Load(filepath.Join(dir, "a.edl"), Options{})
		if err != nil || len(in.Untrusted) != 2 || in.Untrusted[0].Name != "d" || len(in.Types) != 1 {
			t.Fatalf("Load(diamond) = %+v, %v; want d, c and one type", in, err)
		}
	})
}

func TestNames(t *testing.T) {
	tests := []struct{ in, camel, lower string }{
		{"oe_syscall_open_ocall", "OeSyscallOpenOcall", "oeSyscallOpenOcall"},
		{"OE_ASYMMETRIC_KEY_PEM", "OeAsymmetricKeyPem", "oeAsymmetricKeyPem"},
		{"sealPolicy", "SealPolicy", "sealPolicy"},
		{"_OE_MAX", "OeMax", "oeMax"},
		{"type", "Type", "type_"},
		{"len", "Len", "len_"},
		{"xw", "Xw", "xw_"},
		{"p_quote", "PQuote", "pQuote"},
	}
	for _, tt := range tests {
		if got := camel(tt.in); got != tt.camel {
			t.Errorf("camel(%q) = %q; want %q", tt.in, got, tt.camel)
		}
		if got := lowerCamel(tt.in); got != tt.lower {
			t.Errorf("lowerCamel(%q) = %q; want %q", tt.in, got, tt.lower)
		}
	}
}

// FuzzParse checks that Parse never panics and that every error carries a
// position. Seeds are the shared EDL files and the golden inputs.
func FuzzParse(f *testing.F) {
	_ = filepath.WalkDir(vectors.EDLDir(f), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".edl") {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	for _, n := range []string{"hello.edl", "features.edl", "extra.edl", "inc/common.edl", "../internal/rttest/rt.edl"} {
		if b, err := os.ReadFile(filepath.Join("testdata", n)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("f.edl", src, []string{"EDL_USE_HOST_ENTROPY"})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.File != "f.edl" {
				t.Fatalf("Parse error without position: %v", err)
			}
			return
		}
		// Whatever parses must either generate or give a positioned error.
		in := &Interface{Path: "f.edl", Types: file.Types, Trusted: file.Trusted, Untrusted: file.Untrusted}
		if _, err := Generate(in, GenOptions{}); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Generate error without position: %v", err)
			}
		}
	})
}
