package edl

import (
	"os"
	"path/filepath"
	"strings"
)

// Options control Load.
type Options struct {
	// SearchPath lists directories searched, in order, for imported files
	// after the directory of the importing file. Nil searches only that
	// directory.
	SearchPath []string
	// Defines lists the preprocessor symbols treated as defined (-D). Nil
	// defines none.
	Defines []string
}

// Interface is a loaded EDL file with its imports flattened: the types and
// functions visible to generated code, in declaration order. A function's
// ID is its index in Trusted or Untrusted.
type Interface struct {
	Path      string
	Includes  []string
	Types     []*TypeDecl
	Trusted   []*Func
	Untrusted []*Func
}

// MaxImportDepth bounds the nesting of imports (64).
const MaxImportDepth = 64

// Load reads the EDL file at path and resolves its imports transitively on
// the search path, detecting cycles. Trusted and untrusted functions are
// numbered in declaration order, an import contributing its functions (in
// their own order) at the place of the import statement; a function
// reached twice keeps its first position.
func Load(path string, opts Options) (*Interface, error) {
	l := &loader{opts: opts, done: map[string]*Interface{}}
	return l.load(path, Pos{File: path, Line: 1, Col: 1}, nil)
}

type loader struct {
	opts Options
	done map[string]*Interface
}

func (l *loader) load(path string, from Pos, stack []string) (*Interface, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errAt(ErrImport, from, "", "%v", err)
	}
	for i, s := range stack {
		if s == abs {
			chain := append(append([]string(nil), stack[i:]...), abs)
			for k := range chain {
				chain[k] = filepath.Base(chain[k])
			}
			return nil, errAt(ErrImport, from, "remove one of the imports", "import cycle: %s", strings.Join(chain, " -> "))
		}
	}
	if len(stack) >= MaxImportDepth {
		return nil, errAt(ErrImport, from, "", "imports nested deeper than %d", MaxImportDepth)
	}
	if in, ok := l.done[abs]; ok {
		return in, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, errAt(ErrImport, from, "check --search-path", "cannot read %s: %v", path, err)
	}
	f, err := Parse(path, src, l.opts.Defines)
	if err != nil {
		return nil, err
	}
	stack = append(stack, abs)
	in := &Interface{Path: path}
	m := &merger{in: in, seenF: map[string]*Func{}, seenT: map[string]*TypeDecl{}}
	in.Includes = append(in.Includes, f.Includes...)
	for _, imp := range f.Imports {
		p, err := l.resolve(filepath.Dir(path), imp)
		if err != nil {
			return nil, err
		}
		sub, err := l.load(p, imp.Pos, stack)
		if err != nil {
			return nil, err
		}
		for _, inc := range sub.Includes {
			in.Includes = appendUnique(in.Includes, inc)
		}
		for _, t := range sub.Types {
			if err := m.addType(t); err != nil {
				return nil, err
			}
		}
		want := map[string]bool{}
		for _, n := range imp.Names {
			want[n] = true
		}
		found := map[string]bool{}
		for _, list := range [][]*Func{sub.Trusted, sub.Untrusted} {
			for _, fn := range list {
				if imp.Names != nil && !want[fn.Name] {
					continue
				}
				found[fn.Name] = true
				if err := m.addFunc(fn); err != nil {
					return nil, err
				}
			}
		}
		for _, n := range imp.Names {
			if !found[n] {
				return nil, errAt(ErrImport, imp.Pos, "", "%s declares no function %s", imp.Path, n)
			}
		}
	}
	for _, t := range f.Types {
		if err := m.addType(t); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]*Func{f.Trusted, f.Untrusted} {
		for _, fn := range list {
			if err := m.addFunc(fn); err != nil {
				return nil, err
			}
		}
	}
	l.done[abs] = in
	return in, nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (l *loader) resolve(dir string, imp *Import) (string, error) {
	if filepath.IsAbs(imp.Path) {
		return imp.Path, nil
	}
	for _, d := range append([]string{dir}, l.opts.SearchPath...) {
		p := filepath.Join(d, imp.Path)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errAt(ErrImport, imp.Pos, "add its directory with --search-path", "cannot find %q on the search path", imp.Path)
}

type merger struct {
	in    *Interface
	seenF map[string]*Func
	seenT map[string]*TypeDecl
}

func (m *merger) addFunc(fn *Func) error {
	if prev, ok := m.seenF[fn.Name]; ok {
		if prev == fn {
			return nil
		}
		return errAt(ErrSyntax, fn.Pos, "rename one of them", "function %s already declared at %s", fn.Name, prev.Pos)
	}
	m.seenF[fn.Name] = fn
	if fn.Trusted {
		m.in.Trusted = append(m.in.Trusted, fn)
	} else {
		m.in.Untrusted = append(m.in.Untrusted, fn)
	}
	return nil
}

func (m *merger) addType(t *TypeDecl) error {
	if prev, ok := m.seenT[t.Name]; ok {
		if prev == t {
			return nil
		}
		return errAt(ErrSyntax, t.Pos, "rename one of them", "type %s already declared at %s", t.Name, prev.Pos)
	}
	m.seenT[t.Name] = t
	m.in.Types = append(m.in.Types, t)
	return nil
}
