package ddl

import (
	"fmt"
	"strings"

	"github.com/confide-dev/confide/aesql"
)

// ValueType maps the column's declared type and collation to the
// aesql.Type that Normalize needs. Types that Always Encrypted cannot
// encrypt (text, xml, sql_variant, ...) and collations whose code page
// aesql does not implement give an error wrapping aesql.ErrType.
//
// Defaults follow SQL Server: decimal is decimal(18, 0), char and binary
// without a length have length 1, time types without a scale have scale
// 7, float without n is float(53). Without a COLLATE clause a character
// column is taken to use code page 1252 (the Latin1_General collations);
// collations ending in _UTF8 use UTF-8.
func (c *Column) ValueType() (aesql.Type, error) {
	t := c.Type
	bad := func(format string, args ...any) (aesql.Type, error) {
		return aesql.Type{}, fmt.Errorf("ddl: column %s: %w: %s", quoteName(c.Name), aesql.ErrType, fmt.Sprintf(format, args...))
	}
	nargs := func(max int) bool { return len(t.Args) <= max && (!t.Max || max == -1) }
	simple := map[string]aesql.Kind{
		"bit": aesql.Bit, "tinyint": aesql.TinyInt, "smallint": aesql.SmallInt, "int": aesql.Int,
		"bigint": aesql.BigInt, "real": aesql.Real, "money": aesql.Money, "smallmoney": aesql.SmallMoney,
		"date": aesql.Date, "uniqueidentifier": aesql.UniqueIdentifier,
	}
	if k, ok := simple[t.Name]; ok {
		if !nargs(0) {
			return bad("%s takes no arguments", t.Name)
		}
		return aesql.Type{Kind: k}, nil
	}
	switch t.Name {
	case "float":
		if !nargs(1) {
			return bad("float takes at most one argument")
		}
		if len(t.Args) == 1 {
			switch n := t.Args[0]; {
			case n < 1 || n > 53:
				return bad("float(%d) out of range", n)
			case n <= 24:
				return aesql.Type{Kind: aesql.Real}, nil
			}
		}
		return aesql.Type{Kind: aesql.Float}, nil
	case "decimal", "numeric":
		if !nargs(2) {
			return bad("%s takes precision and scale", t.Name)
		}
		p, s := 18, 0
		if len(t.Args) > 0 {
			p = t.Args[0]
		}
		if len(t.Args) > 1 {
			s = t.Args[1]
		}
		if p < 1 || p > 38 || s > p {
			return bad("%s(%d, %d) out of range", t.Name, p, s)
		}
		return aesql.Type{Kind: aesql.Decimal, Precision: uint8(p), Scale: uint8(s)}, nil
	case "time", "datetime2", "datetimeoffset":
		if !nargs(1) {
			return bad("%s takes at most a scale", t.Name)
		}
		s := 7
		if len(t.Args) == 1 {
			s = t.Args[0]
		}
		if s > 7 {
			return bad("%s(%d) out of range", t.Name, s)
		}
		k := map[string]aesql.Kind{"time": aesql.Time, "datetime2": aesql.DateTime2, "datetimeoffset": aesql.DateTimeOffset}[t.Name]
		return aesql.Type{Kind: k, Scale: uint8(s)}, nil
	case "char", "varchar", "nchar", "nvarchar", "binary", "varbinary":
		if len(t.Args) > 1 {
			return bad("%s takes one length", t.Name)
		}
		variable := strings.HasPrefix(t.Name, "var") || strings.HasPrefix(t.Name, "nvar")
		if t.Max && !variable {
			return bad("%s(max) is not a type", t.Name)
		}
		limit := 8000
		if strings.HasPrefix(t.Name, "n") {
			limit = 4000
		}
		n := 1
		if len(t.Args) == 1 {
			n = t.Args[0]
		}
		if n < 1 || n > limit {
			return bad("%s(%d) out of range", t.Name, n)
		}
		if t.Max {
			n = 0
		}
		k := map[string]aesql.Kind{"char": aesql.Char, "varchar": aesql.VarChar, "nchar": aesql.NChar, "nvarchar": aesql.NVarChar, "binary": aesql.Binary, "varbinary": aesql.VarBinary}[t.Name]
		vt := aesql.Type{Kind: k, Length: n}
		if k == aesql.Char || k == aesql.VarChar {
			cp, err := codePage(c.Collation)
			if err != nil {
				return bad("%v", err)
			}
			vt.CodePage = cp
		}
		return vt, nil
	}
	return bad("type %s cannot be encrypted", t.Name)
}

func codePage(collation string) (int, error) {
	u := strings.ToUpper(collation)
	switch {
	case u == "":
		return aesql.CodePage1252, nil
	case strings.HasSuffix(u, "_UTF8"):
		return aesql.CodePageUTF8, nil
	case strings.HasPrefix(u, "LATIN1_GENERAL_"), strings.HasPrefix(u, "SQL_LATIN1_GENERAL_CP1_"):
		return aesql.CodePage1252, nil
	}
	return 0, fmt.Errorf("collation %s: code page not supported", collation)
}
