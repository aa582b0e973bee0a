package ddl

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxSource bounds the text Parse accepts.
const MaxSource = 4 << 20

// Key algorithm names SQL Server accepts in the DDL.
const (
	// CellAlgorithm is the only ALGORITHM of ENCRYPTED WITH.
	CellAlgorithm = "AEAD_AES_256_CBC_HMAC_SHA_256"
	// KeyAlgorithm is the only ALGORITHM of a column encryption key value.
	KeyAlgorithm = "RSA_OAEP"
)

// Parse parses src, a sequence of statements separated by optional
// semicolons (and optional GO batch separators), into statements.
func Parse(src string) ([]Statement, error) {
	if len(src) > MaxSource {
		return nil, &SyntaxError{Pos: Pos{1, 1}, Msg: fmt.Sprintf("input of %d bytes exceeds %d", len(src), MaxSource)}
	}
	p := &parser{lx: lexer{src: src, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []Statement
	for {
		for p.isPunct(";") || p.isKeyword("GO") {
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		if p.tok.kind == tEOF {
			return out, nil
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if !p.isPunct(";") && !p.isKeyword("GO") && p.tok.kind != tEOF && !p.isKeyword("CREATE") && !p.isKeyword("DROP") {
			return nil, p.unexpected("end of statement")
		}
	}
}

type parser struct {
	lx  lexer
	tok token
}

func (p *parser) advance() error {
	t, err := p.lx.token()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errf(pos Pos, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) unexpected(want string) error {
	return p.errf(p.tok.pos, "expected %s, found %s", want, p.tok)
}

func (p *parser) isKeyword(kw string) bool {
	return p.tok.kind == tIdent && strings.EqualFold(p.tok.text, kw)
}

func (p *parser) isPunct(s string) bool {
	return p.tok.kind == tPunct && p.tok.text == s
}

func (p *parser) keyword(kws ...string) error {
	for _, kw := range kws {
		if !p.isKeyword(kw) {
			return p.unexpected(kw)
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) punct(s string) error {
	if !p.isPunct(s) {
		return p.unexpected(fmt.Sprintf("%q", s))
	}
	return p.advance()
}

// reserved lists keywords that cannot be unquoted identifiers here.
var reserved = map[string]bool{
	"CREATE": true, "DROP": true, "TABLE": true, "WITH": true, "VALUES": true,
	"COLLATE": true, "NOT": true, "NULL": true, "GO": true, "ENCRYPTED": true,
}

func (p *parser) ident(what string) (string, error) {
	switch {
	case p.tok.kind == tQIdent:
	case p.tok.kind == tIdent && !reserved[strings.ToUpper(p.tok.text)]:
	default:
		return "", p.unexpected(what)
	}
	s := p.tok.text
	return s, p.advance()
}

// twoPart reads [schema.]name.
func (p *parser) twoPart(what string) (schema, name string, err error) {
	name, err = p.ident(what)
	if err != nil {
		return "", "", err
	}
	if p.isPunct(".") {
		if err := p.advance(); err != nil {
			return "", "", err
		}
		schema = name
		if name, err = p.ident(what); err != nil {
			return "", "", err
		}
	}
	return schema, name, nil
}

func (p *parser) str(what string) (string, error) {
	if p.tok.kind != tString {
		return "", p.unexpected(what + " string")
	}
	s := p.tok.text
	return s, p.advance()
}

func (p *parser) binary(what string) ([]byte, error) {
	if p.tok.kind != tBinary {
		return nil, p.unexpected(what + " binary literal")
	}
	b := p.tok.bin
	return b, p.advance()
}

func (p *parser) statement() (Statement, error) {
	start := p.tok.pos
	switch {
	case p.isKeyword("CREATE"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch {
		case p.isKeyword("TABLE"):
			return p.createTable(start)
		case p.isKeyword("COLUMN"):
			if err := p.advance(); err != nil {
				return nil, err
			}
			switch {
			case p.isKeyword("MASTER"):
				if err := p.keyword("MASTER", "KEY"); err != nil {
					return nil, err
				}
				return p.createCMK(start)
			case p.isKeyword("ENCRYPTION"):
				if err := p.keyword("ENCRYPTION", "KEY"); err != nil {
					return nil, err
				}
				return p.createCEK(start)
			}
			return nil, p.unexpected("MASTER or ENCRYPTION")
		}
		return nil, p.unexpected("TABLE or COLUMN")
	case p.isKeyword("DROP"):
		return p.drop(start)
	}
	return nil, p.unexpected("CREATE or DROP")
}

func (p *parser) drop(start Pos) (Statement, error) {
	if err := p.keyword("DROP"); err != nil {
		return nil, err
	}
	d := &Drop{Pos: start}
	switch {
	case p.isKeyword("TABLE"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		d.Kind = Table
		var err error
		if d.Schema, d.Name, err = p.twoPart("table name"); err != nil {
			return nil, err
		}
		return d, nil
	case p.isKeyword("COLUMN"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch {
		case p.isKeyword("MASTER"):
			d.Kind = ColumnMasterKey
			if err := p.keyword("MASTER", "KEY"); err != nil {
				return nil, err
			}
		case p.isKeyword("ENCRYPTION"):
			d.Kind = ColumnEncryptionKey
			if err := p.keyword("ENCRYPTION", "KEY"); err != nil {
				return nil, err
			}
		default:
			return nil, p.unexpected("MASTER or ENCRYPTION")
		}
		var err error
		d.Name, err = p.ident("key name")
		return d, err
	}
	return nil, p.unexpected("TABLE or COLUMN")
}

// option reads NAME = and returns the upper-cased name and its position.
func (p *parser) optionName(allowed ...string) (string, Pos, error) {
	pos := p.tok.pos
	for _, a := range allowed {
		if p.isKeyword(a) {
			if err := p.advance(); err != nil {
				return "", pos, err
			}
			return a, pos, nil
		}
	}
	return "", pos, p.unexpected(strings.Join(allowed, ", ") + " or ')'")
}

func (p *parser) createCMK(start Pos) (Statement, error) {
	s := &CreateColumnMasterKey{Pos: start}
	var err error
	if s.Name, err = p.ident("column master key name"); err != nil {
		return nil, err
	}
	if err := p.keyword("WITH"); err != nil {
		return nil, err
	}
	if err := p.punct("("); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for {
		name, pos, err := p.optionName("KEY_STORE_PROVIDER_NAME", "KEY_PATH", "ENCLAVE_COMPUTATIONS")
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, p.errf(pos, "duplicate %s", name)
		}
		seen[name] = true
		switch name {
		case "KEY_STORE_PROVIDER_NAME":
			if err := p.punct("="); err != nil {
				return nil, err
			}
			if s.KeyStoreProviderName, err = p.str(name); err != nil {
				return nil, err
			}
		case "KEY_PATH":
			if err := p.punct("="); err != nil {
				return nil, err
			}
			if s.KeyPath, err = p.str(name); err != nil {
				return nil, err
			}
		case "ENCLAVE_COMPUTATIONS":
			s.EnclaveComputations = true
			if err := p.punct("("); err != nil {
				return nil, err
			}
			if err := p.keyword("SIGNATURE"); err != nil {
				return nil, err
			}
			if err := p.punct("="); err != nil {
				return nil, err
			}
			if s.Signature, err = p.binary("SIGNATURE"); err != nil {
				return nil, err
			}
			if err := p.punct(")"); err != nil {
				return nil, err
			}
		}
		if p.isPunct(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		break
	}
	if !p.isPunct(")") {
		return nil, p.unexpected("',' or ')'")
	}
	end := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	for _, req := range []string{"KEY_STORE_PROVIDER_NAME", "KEY_PATH"} {
		if !seen[req] {
			return nil, p.errf(end, "missing %s", req)
		}
	}
	return s, nil
}

func (p *parser) createCEK(start Pos) (Statement, error) {
	s := &CreateColumnEncryptionKey{Pos: start}
	var err error
	if s.Name, err = p.ident("column encryption key name"); err != nil {
		return nil, err
	}
	if err := p.keyword("WITH", "VALUES"); err != nil {
		return nil, err
	}
	for {
		valPos := p.tok.pos
		if len(s.Values) == 2 {
			return nil, p.errf(valPos, "a column encryption key has at most two values")
		}
		v, err := p.cekValue()
		if err != nil {
			return nil, err
		}
		s.Values = append(s.Values, v)
		if !p.isPunct(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(s.Values) == 2 && strings.EqualFold(s.Values[0].ColumnMasterKey, s.Values[1].ColumnMasterKey) {
		return nil, p.errf(start, "both values use column master key %s", quoteName(s.Values[1].ColumnMasterKey))
	}
	return s, nil
}

func (p *parser) cekValue() (CEKValue, error) {
	var v CEKValue
	if err := p.punct("("); err != nil {
		return v, err
	}
	seen := map[string]bool{}
	for {
		name, pos, err := p.optionName("COLUMN_MASTER_KEY", "ALGORITHM", "ENCRYPTED_VALUE")
		if err != nil {
			return v, err
		}
		if seen[name] {
			return v, p.errf(pos, "duplicate %s", name)
		}
		seen[name] = true
		if err := p.punct("="); err != nil {
			return v, err
		}
		switch name {
		case "COLUMN_MASTER_KEY":
			if v.ColumnMasterKey, err = p.ident("column master key name"); err != nil {
				return v, err
			}
		case "ALGORITHM":
			apos := p.tok.pos
			if v.Algorithm, err = p.str(name); err != nil {
				return v, err
			}
			if !strings.EqualFold(v.Algorithm, KeyAlgorithm) {
				return v, p.errf(apos, "unsupported key encryption algorithm %q (want %s)", v.Algorithm, KeyAlgorithm)
			}
		case "ENCRYPTED_VALUE":
			if v.EncryptedValue, err = p.binary(name); err != nil {
				return v, err
			}
		}
		if !p.isPunct(",") {
			break
		}
		if err := p.advance(); err != nil {
			return v, err
		}
	}
	end := p.tok.pos
	if err := p.punct(")"); err != nil {
		return v, p.unexpected("',' or ')'")
	}
	for _, req := range []string{"COLUMN_MASTER_KEY", "ALGORITHM", "ENCRYPTED_VALUE"} {
		if !seen[req] {
			return v, p.errf(end, "missing %s", req)
		}
	}
	return v, nil
}

// maxColumns is SQL Server's limit on columns in a table.
const maxColumns = 1024

func (p *parser) createTable(start Pos) (Statement, error) {
	if err := p.keyword("TABLE"); err != nil {
		return nil, err
	}
	s := &CreateTable{Pos: start}
	var err error
	if s.Schema, s.Name, err = p.twoPart("table name"); err != nil {
		return nil, err
	}
	if err := p.punct("("); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for {
		if len(s.Columns) == maxColumns {
			return nil, p.errf(p.tok.pos, "more than %d columns", maxColumns)
		}
		c, err := p.column()
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(c.Name)
		if names[key] {
			return nil, p.errf(c.Pos, "duplicate column %s", quoteName(c.Name))
		}
		names[key] = true
		s.Columns = append(s.Columns, c)
		if !p.isPunct(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if err := p.punct(")"); err != nil {
		return nil, p.unexpected("',' or ')'")
	}
	return s, nil
}

func (p *parser) column() (Column, error) {
	c := Column{Pos: p.tok.pos}
	var err error
	if c.Name, err = p.ident("column name"); err != nil {
		return c, err
	}
	if c.Type, err = p.dataType(); err != nil {
		return c, err
	}
	seen := map[string]bool{}
	once := func(what string, pos Pos) error {
		if seen[what] {
			return p.errf(pos, "duplicate %s", what)
		}
		seen[what] = true
		return nil
	}
	for {
		pos := p.tok.pos
		switch {
		case p.isKeyword("COLLATE"):
			if err := once("COLLATE", pos); err != nil {
				return c, err
			}
			if err := p.advance(); err != nil {
				return c, err
			}
			if p.tok.kind != tIdent {
				return c, p.unexpected("collation name")
			}
			c.Collation = p.tok.text
			if err := p.advance(); err != nil {
				return c, err
			}
		case p.isKeyword("ENCRYPTED"):
			if err := once("ENCRYPTED WITH", pos); err != nil {
				return c, err
			}
			if c.Encryption, err = p.encryptedWith(); err != nil {
				return c, err
			}
		case p.isKeyword("NOT"):
			if err := once("NULL", pos); err != nil {
				return c, err
			}
			if err := p.keyword("NOT", "NULL"); err != nil {
				return c, err
			}
			c.NotNull = true
		case p.isKeyword("NULL"):
			if err := once("NULL", pos); err != nil {
				return c, err
			}
			if err := p.advance(); err != nil {
				return c, err
			}
			c.Null = true
		default:
			if p.isPunct(",") || p.isPunct(")") {
				return c, nil
			}
			return c, p.unexpected("COLLATE, ENCRYPTED WITH, NULL, NOT NULL, ',' or ')'")
		}
	}
}

func (p *parser) dataType() (DataType, error) {
	var t DataType
	if p.tok.kind != tIdent && p.tok.kind != tQIdent {
		return t, p.unexpected("data type")
	}
	t.Name = strings.ToLower(p.tok.text)
	if err := p.advance(); err != nil {
		return t, err
	}
	if !p.isPunct("(") {
		return t, nil
	}
	if err := p.advance(); err != nil {
		return t, err
	}
	for {
		switch {
		case p.isKeyword("MAX") && len(t.Args) == 0 && !t.Max:
			t.Max = true
		case p.tok.kind == tNumber && !t.Max && len(t.Args) < 2:
			n, err := strconv.Atoi(p.tok.text)
			if err != nil || n > 1<<31-1 {
				return t, p.errf(p.tok.pos, "number %s out of range", p.tok.text)
			}
			t.Args = append(t.Args, n)
		default:
			return t, p.unexpected("type argument")
		}
		if err := p.advance(); err != nil {
			return t, err
		}
		if p.isPunct(")") {
			return t, p.advance()
		}
		if err := p.punct(","); err != nil {
			return t, p.unexpected("',' or ')'")
		}
	}
}

func (p *parser) encryptedWith() (*Encryption, error) {
	if err := p.keyword("ENCRYPTED", "WITH"); err != nil {
		return nil, err
	}
	if err := p.punct("("); err != nil {
		return nil, err
	}
	e := &Encryption{}
	seen := map[string]bool{}
	for {
		name, pos, err := p.optionName("COLUMN_ENCRYPTION_KEY", "ENCRYPTION_TYPE", "ALGORITHM")
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, p.errf(pos, "duplicate %s", name)
		}
		seen[name] = true
		if err := p.punct("="); err != nil {
			return nil, err
		}
		switch name {
		case "COLUMN_ENCRYPTION_KEY":
			if e.ColumnEncryptionKey, err = p.ident("column encryption key name"); err != nil {
				return nil, err
			}
		case "ENCRYPTION_TYPE":
			switch {
			case p.isKeyword("DETERMINISTIC"):
				e.Type = Deterministic
			case p.isKeyword("RANDOMIZED"):
				e.Type = Randomized
			default:
				return nil, p.unexpected("DETERMINISTIC or RANDOMIZED")
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		case "ALGORITHM":
			apos := p.tok.pos
			if e.Algorithm, err = p.str(name); err != nil {
				return nil, err
			}
			if !strings.EqualFold(e.Algorithm, CellAlgorithm) {
				return nil, p.errf(apos, "unsupported encryption algorithm %q (want %s)", e.Algorithm, CellAlgorithm)
			}
		}
		if !p.isPunct(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	end := p.tok.pos
	if err := p.punct(")"); err != nil {
		return nil, p.unexpected("',' or ')'")
	}
	for _, req := range []string{"COLUMN_ENCRYPTION_KEY", "ENCRYPTION_TYPE", "ALGORITHM"} {
		if !seen[req] {
			return nil, p.errf(end, "missing %s", req)
		}
	}
	return e, nil
}
