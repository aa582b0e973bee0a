package sqlq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxQuery bounds the length of a query the analyser accepts.
const MaxQuery = 1 << 20

// ErrSyntax is wrapped by every analysis error.
var ErrSyntax = errors.New("sqlq: syntax error")

// TokKind is the kind of a token.
type TokKind int

// Token kinds.
const (
	Ident  TokKind = iota + 1 // bare identifier or keyword
	QIdent                    // quoted identifier ("a" or [a])
	Number                    // numeric literal
	String                    // string literal 'a'
	Param                     // $n
	Op                        // operator or punctuation
)

// Token is one lexical token. Pos and End are byte offsets in the source.
type Token struct {
	Kind     TokKind
	Text     string // identifier name (unquoted), operator, literal as written
	Pos, End int
	N        int // parameter number for Param
}

// Is reports whether t is the bare keyword kw (case-insensitive).
func (t Token) Is(kw string) bool { return t.Kind == Ident && strings.EqualFold(t.Text, kw) }

// Lex splits src into tokens, skipping whitespace and comments.
func Lex(src string) ([]Token, error) {
	if len(src) > MaxQuery {
		return nil, fmt.Errorf("%w: query of %d bytes is over the %d-byte limit", ErrSyntax, len(src), MaxQuery)
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("%w: query is not valid utf-8", ErrSyntax)
	}
	var toks []Token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			depth := 0
			j := i
			for j < len(src) {
				if strings.HasPrefix(src[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(src[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("%w: unterminated comment at %d", ErrSyntax, i)
			}
			i = j
		case c == '\'':
			j := i + 1
			for {
				k := strings.IndexByte(src[j:], '\'')
				if k < 0 {
					return nil, fmt.Errorf("%w: unterminated string at %d", ErrSyntax, i)
				}
				j += k + 1
				if j < len(src) && src[j] == '\'' {
					j++
					continue
				}
				break
			}
			toks = append(toks, Token{Kind: String, Text: src[i:j], Pos: i, End: j})
			i = j
		case c == '"' || c == '[':
			close := byte('"')
			if c == '[' {
				close = ']'
			}
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(src[j:], close)
				if k < 0 {
					return nil, fmt.Errorf("%w: unterminated identifier at %d", ErrSyntax, i)
				}
				b.WriteString(src[j : j+k])
				j += k + 1
				if j < len(src) && src[j] == close {
					b.WriteByte(close)
					j++
					continue
				}
				break
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("%w: empty identifier at %d", ErrSyntax, i)
			}
			toks = append(toks, Token{Kind: QIdent, Text: b.String(), Pos: i, End: j})
			i = j
		case c == '$' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			n, err := strconv.Atoi(src[i+1 : j])
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%w: parameter %s out of range", ErrSyntax, src[i:j])
			}
			toks = append(toks, Token{Kind: Param, Text: src[i:j], Pos: i, End: j, N: n})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				(src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			toks = append(toks, Token{Kind: Number, Text: src[i:j], Pos: i, End: j})
			i = j
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == '_' || unicode.IsLetter(r) {
				j := i + size
				for j < len(src) {
					r, s := utf8.DecodeRuneInString(src[j:])
					if r != '_' && r != '$' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
						break
					}
					j += s
				}
				toks = append(toks, Token{Kind: Ident, Text: src[i:j], Pos: i, End: j})
				i = j
				continue
			}
			op := ""
			for _, o := range []string{"<>", "<=", ">=", "!=", "||", "::"} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune("=<>(),.;*+-/%", r) {
					return nil, fmt.Errorf("%w: unexpected %q at %d", ErrSyntax, r, i)
				}
				op = string(r)
			}
			toks = append(toks, Token{Kind: Op, Text: op, Pos: i, End: i + len(op)})
			i += len(op)
		}
	}
	return toks, nil
}
