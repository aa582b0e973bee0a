package edl

import (
	"strconv"
	"strings"
)

// Parse parses one EDL file. defines are the preprocessor symbols treated as
// defined. Imports are recorded but not resolved (see Load).
func Parse(name string, src []byte, defines []string) (*File, error) {
	if len(src) > MaxFileSize {
		return nil, errAt(ErrSyntax, Pos{File: name, Line: 1, Col: 1}, "", "file is larger than %d bytes", MaxFileSize)
	}
	defs := map[string]bool{}
	for _, d := range defines {
		defs[d] = true
	}
	text, err := preprocess(name, src, defs)
	if err != nil {
		return nil, err
	}
	toks, err := lex(name, text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, f: &File{Path: name}}
	if err := p.file(); err != nil {
		return nil, err
	}
	return p.f, nil
}

type parser struct {
	toks  []token
	i     int
	f     *File
	depth int // parenthesis nesting in expressions
}

// maxExprDepth bounds parenthesis nesting in expressions.
const maxExprDepth = 64

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tPunct || t.kind == tIdent) && t.text == text
}
func (p *parser) accept(text string) bool {
	if p.is(text) {
		p.i++
		return true
	}
	return false
}
func (p *parser) expect(text string) error {
	if p.accept(text) {
		return nil
	}
	return p.unexpected("'" + text + "'")
}
func (p *parser) unexpected(want string) error {
	t := p.peek()
	got := "'" + t.text + "'"
	if t.kind == tEOF {
		got = "end of file"
	}
	return errAt(ErrSyntax, t.pos, "", "expected %s, found %s", want, got)
}
func (p *parser) ident(what string) (token, error) {
	t := p.peek()
	if t.kind != tIdent {
		return t, p.unexpected(what)
	}
	p.i++
	return t, nil
}

func (p *parser) file() error {
	if err := p.expect("enclave"); err != nil {
		return err
	}
	if err := p.expect("{"); err != nil {
		return err
	}
	for !p.accept("}") {
		if err := p.item(); err != nil {
			return err
		}
	}
	p.accept(";")
	if t := p.peek(); t.kind != tEOF {
		return errAt(ErrSyntax, t.pos, "an EDL file holds one enclave { ... }; block", "unexpected '%s' after the enclave block", t.text)
	}
	return nil
}

func (p *parser) item() error {
	t := p.peek()
	switch {
	case p.accept("include"):
		s := p.next()
		if s.kind != tStr {
			return errAt(ErrSyntax, s.pos, `write include "file.h"`, "include needs a quoted file name")
		}
		p.f.Includes = append(p.f.Includes, s.text)
		return nil
	case p.accept("from"):
		s := p.next()
		if s.kind != tStr {
			return errAt(ErrSyntax, s.pos, `write from "file.edl" import *;`, "from needs a quoted file name")
		}
		imp := &Import{Pos: t.pos, Path: s.text}
		if err := p.expect("import"); err != nil {
			return err
		}
		if !p.accept("*") {
			for {
				n, err := p.ident("function name")
				if err != nil {
					return err
				}
				imp.Names = append(imp.Names, n.text)
				if !p.accept(",") {
					break
				}
			}
		}
		p.f.Imports = append(p.f.Imports, imp)
		return p.expect(";")
	case p.accept("import"):
		return errAt(ErrUnsupported, t.pos, `write from "file.edl" import *;`, "bare import is not supported")
	case p.is("struct"), p.is("union"), p.is("enum"):
		d, err := p.typeDecl()
		if err != nil {
			return err
		}
		p.f.Types = append(p.f.Types, d)
		return nil
	case p.is("trusted"), p.is("untrusted"):
		trusted := p.next().text == "trusted"
		if err := p.expect("{"); err != nil {
			return err
		}
		for !p.accept("}") {
			fn, err := p.fn(trusted)
			if err != nil {
				return err
			}
			if trusted {
				p.f.Trusted = append(p.f.Trusted, fn)
			} else {
				p.f.Untrusted = append(p.f.Untrusted, fn)
			}
		}
		p.accept(";")
		return nil
	case p.accept(";"):
		return nil
	}
	return p.unexpected("include, from, struct, union, enum, trusted or untrusted")
}

func (p *parser) typeDecl() (*TypeDecl, error) {
	t := p.next()
	d := &TypeDecl{Pos: t.pos}
	switch t.text {
	case "struct":
		d.Kind = KindStruct
	case "union":
		d.Kind = KindUnion
	default:
		d.Kind = KindEnum
	}
	n, err := p.ident(t.text + " name")
	if err != nil {
		return nil, err
	}
	d.Name = n.text
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	if d.Kind == KindEnum {
		for !p.accept("}") {
			en, err := p.ident("enumerator")
			if err != nil {
				return nil, err
			}
			e := &Enumerator{Pos: en.pos, Name: en.text}
			if p.accept("=") {
				if e.Value, err = p.expr(); err != nil {
					return nil, err
				}
			}
			d.Enumerators = append(d.Enumerators, e)
			if !p.accept(",") {
				if err := p.expect("}"); err != nil {
					return nil, err
				}
				break
			}
		}
	} else {
		for !p.accept("}") {
			m, err := p.decl(true)
			if err != nil {
				return nil, err
			}
			d.Fields = append(d.Fields, m)
			if err := p.expect(";"); err != nil {
				return nil, err
			}
		}
	}
	return d, p.expect(";")
}

func (p *parser) fn(trusted bool) (*Func, error) {
	f := &Func{Pos: p.peek().pos, Trusted: trusted, File: p.f.Path}
	// Calling-convention attributes of the Intel SDK ([cdecl], [stdcall],
	// [fastcall], [dllimport]) mean nothing across a process boundary.
	if p.is("[") {
		p.i++
		for {
			t, err := p.ident("function attribute")
			if err != nil {
				return nil, err
			}
			switch t.text {
			case "cdecl", "stdcall", "fastcall", "dllimport":
			default:
				return nil, errAt(ErrSyntax, t.pos, "function attributes are cdecl, stdcall, fastcall and dllimport", "unknown function attribute %q", t.text)
			}
			if p.accept("]") {
				break
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	}
	if p.accept("public") {
		if !trusted {
			return nil, errAt(ErrSyntax, f.Pos, "only trusted functions are public", "public on an untrusted function")
		}
		f.Public = true
	}
	ret, err := p.typeRef()
	if err != nil {
		return nil, err
	}
	f.Ret = ret
	n, err := p.ident("function name")
	if err != nil {
		return nil, err
	}
	f.Name, f.Pos = n.text, n.pos
	if err := p.expect("("); err != nil {
		return nil, err
	}
	if p.is("void") && p.toks[p.i+1].text == ")" {
		p.i++
	}
	for !p.accept(")") {
		d, err := p.decl(false)
		if err != nil {
			return nil, err
		}
		f.Params = append(f.Params, d)
		if !p.accept(",") {
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			break
		}
	}
	for !p.accept(";") {
		t := p.next()
		switch t.text {
		case "transition_using_threads", "switchless":
			f.Switchless = true
		case "propagate_errno":
			f.PropagateErrno = true
		case "allow":
			if err := p.expect("("); err != nil {
				return nil, err
			}
			for !p.accept(")") {
				a, err := p.ident("function name")
				if err != nil {
					return nil, err
				}
				f.Allow = append(f.Allow, a.text)
				if !p.accept(",") {
					if err := p.expect(")"); err != nil {
						return nil, err
					}
					break
				}
			}
		default:
			p.i--
			return nil, p.unexpected("';' or a function suffix (allow, transition_using_threads, propagate_errno)")
		}
	}
	return f, nil
}

var baseWords = map[string]bool{"unsigned": true, "signed": true, "short": true, "long": true, "int": true, "char": true}

func (p *parser) typeRef() (TypeRef, error) {
	r := TypeRef{Pos: p.peek().pos}
	if p.accept("const") {
		r.Const = true
	}
	if p.is("struct") || p.is("union") || p.is("enum") {
		r.Tag = p.next().text
		n, err := p.ident(r.Tag + " name")
		if err != nil {
			return r, err
		}
		r.Name = n.text
	} else if t := p.peek(); t.kind == tIdent && baseWords[t.text] {
		var words []string
		for p.peek().kind == tIdent && baseWords[p.peek().text] {
			words = append(words, p.next().text)
		}
		name, ok := canonInt(words)
		if !ok {
			return r, errAt(ErrSyntax, t.pos, "", "invalid type %q", strings.Join(words, " "))
		}
		r.Name = name
	} else {
		n, err := p.ident("type")
		if err != nil {
			return r, err
		}
		if n.text == "const" || n.text == "public" {
			return r, errAt(ErrSyntax, n.pos, "", "unexpected %q", n.text)
		}
		r.Name = n.text
	}
	for {
		switch {
		case p.accept("const"):
			r.Const = true
		case p.accept("*"):
			r.Ptr++
		default:
			return r, nil
		}
	}
}

// canonInt turns C integer keyword sequences into one canonical name.
func canonInt(words []string) (string, bool) {
	var unsigned, signed bool
	var short, long, ints, chars int
	for _, w := range words {
		switch w {
		case "unsigned":
			unsigned = true
		case "signed":
			signed = true
		case "short":
			short++
		case "long":
			long++
		case "int":
			ints++
		case "char":
			chars++
		}
	}
	if unsigned && signed || ints > 1 || chars > 1 || short > 1 || long > 2 || short > 0 && long > 0 || chars > 0 && (short+long+ints) > 0 {
		return "", false
	}
	prefix := ""
	if unsigned {
		prefix = "unsigned "
	}
	switch {
	case chars == 1:
		if signed {
			return "signed char", true
		}
		return prefix + "char", true
	case short == 1:
		return prefix + "short", true
	case long == 1:
		return prefix + "long", true
	case long == 2:
		return prefix + "long long", true
	}
	return prefix + "int", true
}

func (p *parser) attrs() (Attrs, error) {
	a := Attrs{Pos: p.peek().pos, Present: true}
	p.i++ // '['
	for {
		t, err := p.ident("attribute")
		if err != nil {
			return a, err
		}
		switch t.text {
		case "in":
			a.In = true
		case "out":
			a.Out = true
		case "string":
			a.String = true
		case "wstring":
			a.WString = true
		case "user_check":
			a.UserCheck = true
		case "isptr":
			a.IsPtr = true
		case "isary":
			a.IsAry = true
		case "readonly":
			a.ReadOnly = true
		case "size", "count":
			if err := p.expect("="); err != nil {
				return a, err
			}
			e, err := p.expr()
			if err != nil {
				return a, err
			}
			if t.text == "size" {
				a.Size = e
			} else {
				a.Count = e
			}
		case "sizefunc":
			return a, errAt(ErrUnsupported, t.pos, "use size= with a length parameter (sizefunc was removed from the Intel SDK)", "sizefunc is not supported")
		default:
			return a, errAt(ErrSyntax, t.pos, "known attributes: in, out, string, wstring, size=, count=, user_check, isptr, isary, readonly", "unknown attribute %q", t.text)
		}
		if p.accept("]") {
			return a, nil
		}
		if err := p.expect(","); err != nil {
			return a, err
		}
	}
}

func (p *parser) decl(member bool) (*Decl, error) {
	d := &Decl{Pos: p.peek().pos}
	if p.is("[") {
		a, err := p.attrs()
		if err != nil {
			return nil, err
		}
		d.Attrs = a
	}
	t, err := p.typeRef()
	if err != nil {
		return nil, err
	}
	d.Type = t
	if p.peek().kind == tIdent {
		n := p.next()
		d.Name, d.Pos = n.text, n.pos
	} else if member {
		return nil, p.unexpected("member name")
	} else {
		return nil, errAt(ErrUnsupported, p.peek().pos, "give the parameter a name", "unnamed parameter")
	}
	for p.accept("[") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		d.Dims = append(d.Dims, e)
		if err := p.expect("]"); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// expr parses + - * / with the usual precedence, parentheses, numbers,
// identifiers and sizeof(type).
func (p *parser) expr() (*Expr, error) { return p.binary(0) }

func (p *parser) binary(level int) (*Expr, error) {
	ops := [][]string{{"+", "-"}, {"*", "/"}}
	if level == len(ops) {
		return p.primary()
	}
	l, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		matched := false
		for _, op := range ops[level] {
			if t.kind == tPunct && t.text == op {
				matched = true
			}
		}
		if !matched {
			return l, nil
		}
		p.i++
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l = &Expr{Pos: t.pos, Op: t.text[0], L: l, R: r}
	}
}

func (p *parser) primary() (*Expr, error) {
	t := p.peek()
	switch {
	case p.accept("("):
		if p.depth++; p.depth > maxExprDepth {
			return nil, errAt(ErrSyntax, t.pos, "", "expression nested deeper than %d", maxExprDepth)
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.depth--
		return e, p.expect(")")
	case p.accept("-"):
		e, err := p.primary()
		if err != nil {
			return nil, err
		}
		return &Expr{Pos: t.pos, Op: '-', L: &Expr{Pos: t.pos, Op: 'n'}, R: e}, nil
	case p.accept("sizeof"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		tr, err := p.typeRef()
		if err != nil {
			return nil, err
		}
		return &Expr{Pos: t.pos, Op: 's', Type: &tr}, p.expect(")")
	case t.kind == tNum:
		p.i++
		s := strings.TrimRight(strings.ToLower(t.text), "ul")
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return nil, errAt(ErrSyntax, t.pos, "", "invalid number %q", t.text)
		}
		return &Expr{Pos: t.pos, Op: 'n', Num: v}, nil
	case t.kind == tIdent:
		p.i++
		return &Expr{Pos: t.pos, Op: 'i', Name: t.text}, nil
	}
	return nil, p.unexpected("number, name or '('")
}
