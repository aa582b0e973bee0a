package edl

import (
	"strings"
)

// MaxFileSize bounds the size of an EDL file accepted by Parse (1 MiB).
const MaxFileSize = 1 << 20

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNum
	tStr
	tPunct
)

type token struct {
	kind tokKind
	text string
	pos  Pos
}

// preprocess blanks out lines excluded by #ifdef/#ifndef/#else/#endif,
// applies #define and #undef, and keeps line numbering intact.
func preprocess(file string, src []byte, defines map[string]bool) (string, error) {
	defs := make(map[string]bool, len(defines))
	for k, v := range defines {
		defs[k] = v
	}
	type frame struct {
		active, parentActive, sawElse bool
		pos                           Pos
	}
	var stack []frame
	active := true
	lines := strings.Split(string(src), "\n")
	inComment := false
	for i, line := range lines {
		trim := strings.TrimSpace(line)
		startsInComment := inComment
		inComment = commentState(line, inComment)
		if startsInComment || !strings.HasPrefix(trim, "#") {
			if !active {
				lines[i] = ""
			}
			continue
		}
		p := Pos{File: file, Line: i + 1, Col: strings.Index(line, "#") + 1}
		fields := strings.Fields(stripLineComment(strings.TrimSpace(trim[1:])))
		if len(fields) == 0 {
			return "", errAt(ErrSyntax, p, "", "empty preprocessor directive")
		}
		dir := fields[0]
		arg := ""
		if len(fields) > 1 {
			arg = fields[1]
		}
		switch dir {
		case "ifdef", "ifndef":
			if arg == "" || len(fields) != 2 || !isIdent(arg) {
				return "", errAt(ErrSyntax, p, "write #"+dir+" NAME", "#%s needs exactly one symbol", dir)
			}
			cond := defs[arg]
			if dir == "ifndef" {
				cond = !cond
			}
			stack = append(stack, frame{active: active && cond, parentActive: active, pos: p})
			active = active && cond
		case "else":
			if len(stack) == 0 {
				return "", errAt(ErrSyntax, p, "", "#else without #ifdef")
			}
			f := &stack[len(stack)-1]
			if f.sawElse {
				return "", errAt(ErrSyntax, p, "", "second #else for the same #ifdef")
			}
			f.sawElse = true
			f.active = f.parentActive && !f.active
			active = f.active
		case "endif":
			if len(stack) == 0 {
				return "", errAt(ErrSyntax, p, "", "#endif without #ifdef")
			}
			stack = stack[:len(stack)-1]
			active = true
			if len(stack) > 0 {
				active = stack[len(stack)-1].active
			}
		case "define", "undef":
			if arg == "" || !isIdent(arg) {
				return "", errAt(ErrSyntax, p, "", "#%s needs a symbol", dir)
			}
			if active {
				if len(fields) > 2 {
					return "", errAt(ErrUnsupported, p, "use -D NAME; EDL symbols have no values", "#define with a value is not supported")
				}
				defs[arg] = dir == "define"
			}
		default:
			return "", errAt(ErrUnsupported, p, "only #ifdef, #ifndef, #else, #endif, #define and #undef are supported", "unsupported preprocessor directive #%s", dir)
		}
		lines[i] = ""
	}
	if len(stack) > 0 {
		return "", errAt(ErrSyntax, stack[len(stack)-1].pos, "add #endif", "unterminated #ifdef")
	}
	return strings.Join(lines, "\n"), nil
}

func stripLineComment(s string) string {
	if i := strings.Index(s, "//"); i >= 0 {
		return s[:i]
	}
	if i := strings.Index(s, "/*"); i >= 0 {
		return s[:i]
	}
	return s
}

// commentState reports whether a block comment is open at the end of line.
func commentState(line string, in bool) bool {
	for i := 0; i < len(line); i++ {
		if in {
			if line[i] == '*' && i+1 < len(line) && line[i+1] == '/' {
				in = false
				i++
			}
			continue
		}
		switch {
		case line[i] == '/' && i+1 < len(line) && line[i+1] == '/':
			return false
		case line[i] == '/' && i+1 < len(line) && line[i+1] == '*':
			in = true
			i++
		case line[i] == '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
			}
		}
	}
	return in
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func lex(file, src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n; k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		p := Pos{File: file, Line: line, Col: col}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			adv(1)
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				adv(1)
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errAt(ErrSyntax, p, "close it with */", "unterminated comment")
			}
			adv(end + 4)
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, errAt(ErrSyntax, p, "", "unterminated string")
			}
			toks = append(toks, token{tStr, src[i+1 : j], p})
			adv(j + 1 - i)
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], p})
			adv(j - i)
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z') {
				j++
			}
			toks = append(toks, token{tNum, src[i:j], p})
			adv(j - i)
		case strings.IndexByte("{}()[];,=*+-/<>|&~.", c) >= 0:
			toks = append(toks, token{tPunct, string(c), p})
			adv(1)
		default:
			return nil, errAt(ErrSyntax, p, "", "unexpected character %q", c)
		}
	}
	toks = append(toks, token{tEOF, "", Pos{File: file, Line: line, Col: col}})
	return toks, nil
}
