package sqlq

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pred is a compact form of Pred for tables.
type pred struct {
	Kind PredKind
	Op   string
	Not  bool
	Desc bool
	Col  string
	Args string // e.g. "$1 lit $2 col:b.x null"
	Text string // the predicate's source text
}

func compact(s *Stmt) []pred {
	var out []pred
	for _, p := range s.Preds {
		var args []string
		for _, a := range p.Args {
			switch a.Kind {
			case OParam:
				args = append(args, "$"+string(rune('0'+a.N)))
			case OLiteral:
				args = append(args, "lit")
			case ONull:
				args = append(args, "null")
			case OCol:
				args = append(args, "col:"+a.Col.String())
			default:
				args = append(args, "expr")
			}
		}
		out = append(out, pred{Kind: p.Kind, Op: p.Op, Not: p.Not, Desc: p.Desc, Col: p.Col.String(),
			Args: strings.Join(args, " "), Text: s.Src[s.Tokens[p.From].Pos:s.Tokens[p.To-1].End]})
	}
	return out
}

func TestAnalyze(t *testing.T) {
	cases := []struct {
		name   string
		src    string
		kind   StmtKind
		tables []Table
		preds  []pred
	}{
		{"issue point lookup", `SELECT * FROM Patients WHERE SSN = $1`, Select, []Table{{Name: "Patients"}},
			[]pred{{Kind: Compare, Op: "=", Col: "SSN", Args: "$1", Text: "SSN = $1"}}},
		{"reversed and cast", `select a from t where $2::bytea >= t.x and y <> 'a'`, Select, []Table{{Name: "t"}},
			[]pred{{Kind: Compare, Op: "<=", Col: "t.x", Args: "$2", Text: "$2::bytea >= t.x"},
				{Kind: Compare, Op: "<>", Col: "y", Args: "lit", Text: "y <> 'a'"}}},
		{"between in like null", `SELECT id FROM p AS q WHERE q.d NOT BETWEEN $1 AND $2 OR s IN ($3, $4) AND n LIKE $5 AND z IS NOT NULL`, Select,
			[]Table{{Name: "p", Alias: "q"}},
			[]pred{{Kind: Between, Not: true, Col: "q.d", Args: "$1 $2", Text: "q.d NOT BETWEEN $1 AND $2"},
				{Kind: In, Col: "s", Args: "$3 $4", Text: "s IN ($3, $4)"},
				{Kind: Like, Col: "n", Args: "$5", Text: "n LIKE $5"},
				{Kind: IsNull, Not: true, Col: "z", Text: "z IS NOT NULL"}}},
		{"group order join", `SELECT a.x, count(*) FROM a JOIN b bb ON a.k = bb.k WHERE a.y + 1 > $1 GROUP BY a.x ORDER BY a.x DESC, count(*)`, Select,
			[]Table{{Name: "a"}, {Name: "b", Alias: "bb"}},
			[]pred{{Kind: Compare, Op: "=", Col: "a.k", Args: "col:bb.k", Text: "a.k = bb.k"},
				{Kind: Bare, Col: "a.y", Text: "a.y"},
				{Kind: GroupBy, Col: "a.x", Text: "a.x"},
				{Kind: OrderBy, Desc: true, Col: "a.x", Text: "a.x"}}},
		{"quoted identifiers", `SELECT "my col" FROM [my table] WHERE [a]]b] = $1`, Select, []Table{{Name: "my table"}},
			[]pred{{Kind: Compare, Op: "=", Col: "a]b", Args: "$1", Text: "[a]]b] = $1"}}},
		{"update", `UPDATE t SET a = $1, b = b + 1 WHERE c < $2`, Update, []Table{{Name: "t"}},
			[]pred{{Kind: Bare, Col: "b", Text: "b"}, {Kind: Compare, Op: "<", Col: "c", Args: "$2", Text: "c < $2"}}},
		{"delete", `DELETE FROM dbo.t WHERE c = $1;`, Delete, []Table{{Name: "t"}},
			[]pred{{Kind: Compare, Op: "=", Col: "c", Args: "$1", Text: "c = $1"}}},
		{"other", `BEGIN`, Other, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Analyze(c.src)
			if err != nil {
				t.Fatalf("Analyze(%q): %v", c.src, err)
			}
			if s.Kind != c.kind {
				t.Errorf("Analyze(%q).Kind = %v; want %v", c.src, s.Kind, c.kind)
			}
			var tables []Table
			for _, tb := range s.Tables {
				tables = append(tables, Table{Name: tb.Name, Alias: tb.Alias})
			}
			if diff := cmp.Diff(c.tables, tables); diff != "" {
				t.Errorf("Analyze(%q).Tables (-want +got):\n%s", c.src, diff)
			}
			if diff := cmp.Diff(c.preds, compact(s)); diff != "" {
				t.Errorf("Analyze(%q).Preds (-want +got):\n%s", c.src, diff)
			}
		})
	}
}

func TestAnalyzeInsertAndItems(t *testing.T) {
	s, err := Analyze(`INSERT INTO Patients (Id, SSN, Name) VALUES ($1, $2, 'x'), (2, NULL, upper($3))`)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]OperandKind{{OParam, OParam, OLiteral}, {OLiteral, ONull, OExpr}}
	for i, row := range s.Rows {
		for j, v := range row {
			if v.Kind != want[i][j] || v.Column != s.Columns[j] {
				t.Errorf("row %d value %d = %v %q; want %v %q", i, j, v.Kind, v.Column, want[i][j], s.Columns[j])
			}
		}
	}
	if s.Params != 3 {
		t.Errorf("Params = %d; want 3", s.Params)
	}
	s, err = Analyze(`SELECT DISTINCT *, t.*, a AS b, c d, count(*) FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, it := range s.Items {
		switch {
		case it.Star:
			got = append(got, "*"+it.Qual)
		case it.Col != nil:
			got = append(got, it.Col.String())
		default:
			got = append(got, "expr")
		}
	}
	if diff := cmp.Diff([]string{"*", "*t", "a", "c", "expr"}, got); diff != "" {
		t.Errorf("Items (-want +got):\n%s", diff)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	for _, src := range []string{
		`SELECT 'unterminated`,
		`SELECT "x`,
		`SELECT a FROM t WHERE (b = 1`,
		`SELECT a FROM t; SELECT b FROM t`,
		`SELECT a FROM (SELECT a FROM t) s`,
		`SELECT a FROM t WHERE b IN (SELECT c FROM u)`,
		`SELECT a FROM t UNION SELECT b FROM u`,
		`INSERT INTO t (a, b) VALUES ($1)`,
		`INSERT t VALUES (1)`,
		`SELECT $0`,
		"SELECT \xff",
		`SELECT a FROM t /* open`,
		`SELECT a # b`,
		`SELECT , a FROM t`,
		`SELECT a, FROM t`,
		`SELECT`,
	} {
		if _, err := Analyze(src); !errors.Is(err, ErrSyntax) {
			t.Errorf("Analyze(%q) = %v; want ErrSyntax", src, err)
		}
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		`SELECT * FROM Patients WHERE SSN = $1`,
		`SELECT PatientId, SSN FROM Patients WHERE BirthDate BETWEEN $1 AND $2 ORDER BY BirthDate DESC`,
		`SELECT LastName, count(*) FROM Patients p JOIN Visits v ON p.Id = v.PatientId WHERE SSN LIKE $1 GROUP BY LastName`,
		`INSERT INTO Patients (PatientId, SSN) VALUES ($1, $2), (3, NULL)`,
		`UPDATE Patients SET SSN = $1 WHERE PatientId IN ($2, $3)`,
		`DELETE FROM Patients WHERE Salary NOT BETWEEN $1 AND $2`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Analyze(src)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Analyze(%q) error %v does not wrap ErrSyntax", src, err)
			}
			return
		}
		for _, p := range s.Preds {
			if p.From < 0 || p.To > len(s.Tokens) || p.From >= p.To {
				t.Fatalf("Analyze(%q): predicate span [%d,%d) of %d tokens", src, p.From, p.To, len(s.Tokens))
			}
		}
		// Analysis is deterministic: the enclave relies on it.
		s2, _ := Analyze(src)
		if len(s2.Preds) != len(s.Preds) {
			t.Fatalf("Analyze(%q) is not deterministic", src)
		}
	})
}
