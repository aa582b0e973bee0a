package ddl

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // regular identifier or keyword
	tQIdent         // [quoted] or "quoted" identifier
	tString         // 'string' or N'string'
	tBinary         // 0x...
	tNumber         // unsigned integer
	tPunct          // ( ) , = ; .
)

type token struct {
	kind tokKind
	text string // identifier or string value, punctuation, number digits
	bin  []byte // tBinary
	pos  Pos
}

// String describes the token for error messages.
func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return "string literal"
	case tBinary:
		return "binary literal"
	case tQIdent:
		return "identifier " + quoteName(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func quoteName(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.col} }

func (l *lexer) errf(p Pos, format string, args ...any) error {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// next consumes one rune.
func (l *lexer) next() rune {
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) peek() rune {
	if l.off >= len(l.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return r
}

func (l *lexer) peek2() rune {
	if l.off >= len(l.src) {
		return -1
	}
	_, n := utf8.DecodeRuneInString(l.src[l.off:])
	if l.off+n >= len(l.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off+n:])
	return r
}

func (l *lexer) skipSpace() error {
	for {
		r := l.peek()
		switch {
		case r == -1:
			return nil
		case unicode.IsSpace(r):
			l.next()
		case r == '-' && l.peek2() == '-':
			for l.peek() != -1 && l.peek() != '\n' {
				l.next()
			}
		case r == '/' && l.peek2() == '*':
			start := l.pos()
			l.next()
			l.next()
			depth := 1 // T-SQL block comments nest
			for depth > 0 {
				switch {
				case l.peek() == -1:
					return l.errf(start, "unterminated comment")
				case l.peek() == '/' && l.peek2() == '*':
					l.next()
					l.next()
					depth++
				case l.peek() == '*' && l.peek2() == '/':
					l.next()
					l.next()
					depth--
				default:
					l.next()
				}
			}
		default:
			return nil
		}
	}
}

func isIdentStart(r rune) bool {
	return r == '_' || r == '@' || r == '#' || unicode.IsLetter(r)
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || r == '$' || unicode.IsDigit(r)
}

// maxIdent is SQL Server's sysname length.
const maxIdent = 128

func (l *lexer) token() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	r := l.peek()
	switch {
	case r == -1:
		return token{kind: tEOF, pos: p}, nil
	case r == utf8.RuneError && l.src[l.off] >= 0x80:
		if _, n := utf8.DecodeRuneInString(l.src[l.off:]); n == 1 {
			return token{}, l.errf(p, "invalid utf-8")
		}
	}
	switch {
	case r == '0' && (l.peek2() == 'x' || l.peek2() == 'X'):
		l.next()
		l.next()
		start := l.off
		for isHex(l.peek()) {
			l.next()
		}
		digits := l.src[start:l.off]
		if isIdentPart(l.peek()) {
			return token{}, l.errf(l.pos(), "invalid character %q in binary literal", l.peek())
		}
		if len(digits)%2 != 0 {
			return token{}, l.errf(p, "binary literal has an odd number of hex digits")
		}
		b, err := hex.DecodeString(digits)
		if err != nil {
			return token{}, l.errf(p, "bad binary literal")
		}
		return token{kind: tBinary, bin: b, pos: p}, nil
	case r >= '0' && r <= '9':
		start := l.off
		for l.peek() >= '0' && l.peek() <= '9' {
			l.next()
		}
		if isIdentPart(l.peek()) {
			return token{}, l.errf(l.pos(), "invalid character %q after number", l.peek())
		}
		return token{kind: tNumber, text: l.src[start:l.off], pos: p}, nil
	case (r == 'N' || r == 'n') && l.peek2() == '\'':
		l.next()
		s, err := l.quoted('\'', '\'', p, "string")
		return token{kind: tString, text: s, pos: p}, err
	case r == '\'':
		s, err := l.quoted('\'', '\'', p, "string")
		return token{kind: tString, text: s, pos: p}, err
	case r == '[':
		s, err := l.quoted('[', ']', p, "identifier")
		if err == nil {
			err = checkIdent(l, p, s)
		}
		return token{kind: tQIdent, text: s, pos: p}, err
	case r == '"':
		s, err := l.quoted('"', '"', p, "identifier")
		if err == nil {
			err = checkIdent(l, p, s)
		}
		return token{kind: tQIdent, text: s, pos: p}, err
	case isIdentStart(r):
		start := l.off
		for isIdentPart(l.peek()) {
			l.next()
		}
		s := l.src[start:l.off]
		return token{kind: tIdent, text: s, pos: p}, checkIdent(l, p, s)
	case strings.ContainsRune("(),=;.", r):
		l.next()
		return token{kind: tPunct, text: string(r), pos: p}, nil
	}
	return token{}, l.errf(p, "unexpected character %q", r)
}

func checkIdent(l *lexer, p Pos, s string) error {
	if n := utf8.RuneCountInString(s); n == 0 || n > maxIdent {
		return l.errf(p, "identifier length %d out of range 1..%d", n, maxIdent)
	}
	return nil
}

// quoted reads a literal delimited by open and close in which a doubled
// close stands for itself.
func (l *lexer) quoted(open, close rune, p Pos, what string) (string, error) {
	l.next() // open
	var sb strings.Builder
	for {
		r := l.peek()
		switch {
		case r == -1:
			return "", l.errf(p, "unterminated %s", what)
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(l.src[l.off:]); n == 1 {
				return "", l.errf(l.pos(), "invalid utf-8")
			}
		case r == close:
			l.next()
			if l.peek() != close {
				return sb.String(), nil
			}
		}
		sb.WriteRune(l.next())
	}
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}
