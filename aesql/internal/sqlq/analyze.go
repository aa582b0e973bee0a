package sqlq

import (
	"fmt"
	"strings"
)

// StmtKind classifies a statement.
type StmtKind int

// Statement kinds.
const (
	Other StmtKind = iota
	Select
	Insert
	Update
	Delete
)

// Table is a table named in FROM, JOIN, INSERT INTO, UPDATE or DELETE.
type Table struct {
	Name  string
	Alias string // empty when none
	// From and To delimit the reference's tokens in FROM (name and
	// alias); zero for INSERT, UPDATE and DELETE targets.
	From, To int
}

// ColRef is a column reference: [Qual.]Name.
type ColRef struct {
	Qual, Name string
}

// String returns the reference as written, unquoted.
func (c ColRef) String() string {
	if c.Qual != "" {
		return c.Qual + "." + c.Name
	}
	return c.Name
}

// OperandKind is the kind of a predicate operand or inserted value.
type OperandKind int

// Operand kinds.
const (
	OParam   OperandKind = iota + 1 // $n
	OLiteral                        // number, string, TRUE, FALSE
	ONull                           // NULL
	OCol                            // column reference
	OExpr                           // anything else
)

// Operand is one side of a predicate, or a value.
type Operand struct {
	Kind OperandKind
	N    int    // parameter number for OParam
	Col  ColRef // for OCol
}

// PredKind is the kind of a predicate or ordering item.
type PredKind int

// Predicate kinds. Compare, Between, In, Like, OrderBy and GroupBy are the
// operations an enclave can evaluate on a randomized column; IsNull needs
// no key; Bare is any other use of a column in a condition or ordering.
const (
	Compare PredKind = iota + 1
	Between
	In
	Like
	IsNull
	OrderBy
	GroupBy
	Bare
)

var predNames = map[PredKind]string{Compare: "compare", Between: "between", In: "in", Like: "like",
	IsNull: "is null", OrderBy: "order by", GroupBy: "group by", Bare: "bare"}

// String names the kind.
func (k PredKind) String() string {
	if s, ok := predNames[k]; ok {
		return s
	}
	return fmt.Sprintf("PredKind(%d)", int(k))
}

// Pred is a predicate on a column, or an ORDER BY or GROUP BY item, with
// the span of tokens [From, To) it covers.
type Pred struct {
	Kind PredKind
	// Op is the comparison operator of Compare, normalised to "=", "<>",
	// "<", "<=", ">" or ">=" with the column on the left.
	Op string
	// Not is set for NOT BETWEEN, NOT IN, NOT LIKE and IS NOT NULL.
	Not bool
	// Desc is set for ORDER BY … DESC.
	Desc bool
	Col  ColRef
	Args []Operand
	// From and To delimit the predicate's tokens.
	From, To int
}

// Value is an inserted or assigned value for a column.
type Value struct {
	Column string // empty for INSERT without a column list
	Operand
	From, To int
}

// Stmt is the analysis of one statement.
type Stmt struct {
	Kind   StmtKind
	Src    string
	Tokens []Token
	// Tables lists the tables the statement reads or writes, in order.
	Tables []Table
	// Preds lists predicates and ordering items in token order.
	Preds []Pred
	// Columns is INSERT's column list (nil when omitted).
	Columns []string
	// Rows are INSERT's VALUES rows; Sets are UPDATE's assignments.
	Rows [][]Value
	Sets []Value
	// Items is a SELECT's select list.
	Items []Item
	// Params is the highest parameter number used.
	Params int
}

// Item is one entry of a select list: *, q.*, a column reference (with
// an optional alias), or another expression.
type Item struct {
	Star bool
	Qual string  // for q.*
	Col  *ColRef // for a column reference
	Expr bool    // anything else
	// Func is the lowercase name of the function an expression starts
	// with (count, sum, …), if any.
	Func string
	// From and To delimit the column reference's tokens (Col), or the
	// star's (Star).
	From, To int
}

var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`and or not null is in like between true false case when then else end
		exists select from where group by order having limit offset as on join inner left right full outer
		cross asc desc distinct all union escape collate cast values set into insert update delete
		returning except intersect natural using`) {
		keywords[k] = true
	}
}

func isKeyword(t Token) bool { return t.Kind == Ident && keywords[strings.ToLower(t.Text)] }

// Analyze lexes and analyses one statement (a trailing ';' is allowed).
func Analyze(src string) (*Stmt, error) {
	toks, err := Lex(src)
	if err != nil {
		return nil, err
	}
	for len(toks) > 0 && toks[len(toks)-1].Kind == Op && toks[len(toks)-1].Text == ";" {
		toks = toks[:len(toks)-1]
	}
	s := &Stmt{Src: src, Tokens: toks}
	for _, t := range toks {
		if t.Kind == Op && t.Text == ";" {
			return nil, fmt.Errorf("%w: one statement at a time", ErrSyntax)
		}
		if t.Kind == Param && t.N > s.Params {
			s.Params = t.N
		}
	}
	if len(toks) == 0 {
		return s, nil
	}
	p := &parser{s: s, t: toks}
	switch {
	case toks[0].Is("select"):
		s.Kind = Select
		err = p.selectStmt()
	case toks[0].Is("insert"):
		s.Kind = Insert
		err = p.insertStmt()
	case toks[0].Is("update"):
		s.Kind = Update
		err = p.updateStmt()
	case toks[0].Is("delete"):
		s.Kind = Delete
		err = p.deleteStmt()
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

type parser struct {
	s *Stmt
	t []Token
}

func (p *parser) errf(i int, format string, args ...any) error {
	pos := len(p.s.Src)
	if i < len(p.t) {
		pos = p.t[i].Pos
	}
	return fmt.Errorf("%w: at offset %d: %s", ErrSyntax, pos, fmt.Sprintf(format, args...))
}

func (p *parser) is(i int, kw string) bool { return i < len(p.t) && p.t[i].Is(kw) }
func (p *parser) op(i int, o string) bool {
	return i < len(p.t) && p.t[i].Kind == Op && p.t[i].Text == o
}

// name reads an identifier at i, returning it and the next index.
func (p *parser) name(i int) (string, int, bool) {
	if i >= len(p.t) {
		return "", i, false
	}
	t := p.t[i]
	if t.Kind == QIdent || t.Kind == Ident && !isKeyword(t) {
		return t.Text, i + 1, true
	}
	return "", i, false
}

// tableName reads [schema.]name.
func (p *parser) tableName(i int) (string, int, error) {
	n, j, ok := p.name(i)
	if !ok {
		return "", i, p.errf(i, "table name expected")
	}
	if p.op(j, ".") {
		n2, k, ok := p.name(j + 1)
		if !ok {
			return "", i, p.errf(j+1, "table name expected")
		}
		return n2, k, nil
	}
	return n, j, nil
}

// colRef reads [qual.]name not followed by '(' (a function call).
func (p *parser) colRef(i int) (ColRef, int, bool) {
	n, j, ok := p.name(i)
	if !ok {
		return ColRef{}, i, false
	}
	c := ColRef{Name: n}
	if p.op(j, ".") {
		if p.op(j+1, "*") {
			return ColRef{}, i, false
		}
		n2, k, ok := p.name(j + 1)
		if !ok {
			return ColRef{}, i, false
		}
		c = ColRef{Qual: n, Name: n2}
		j = k
	}
	if p.op(j, "(") {
		return ColRef{}, i, false
	}
	return c, j, true
}

// operand reads a simple operand at i. A parameter may carry a cast
// ($1::bytea). An operand followed by an arithmetic operator is OExpr and
// the whole expression up to the next boundary is skipped.
func (p *parser) operand(i int) (Operand, int) {
	var o Operand
	j := i
	switch {
	case i >= len(p.t):
		return Operand{Kind: OExpr}, i
	case p.t[i].Kind == Param:
		o, j = Operand{Kind: OParam, N: p.t[i].N}, i+1
		for p.op(j, "::") {
			if _, k, ok := p.name(j + 1); ok {
				j = k
			} else {
				break
			}
		}
	case p.t[i].Kind == Number || p.t[i].Kind == String || p.is(i, "true") || p.is(i, "false"):
		o, j = Operand{Kind: OLiteral}, i+1
		for p.op(j, "::") {
			if _, k, ok := p.name(j + 1); ok {
				j = k
			} else {
				break
			}
		}
	case p.op(i, "-") && i+1 < len(p.t) && p.t[i+1].Kind == Number:
		o, j = Operand{Kind: OLiteral}, i+2
	case p.is(i, "null"):
		o, j = Operand{Kind: ONull}, i+1
	default:
		if c, k, ok := p.colRef(i); ok {
			o, j = Operand{Kind: OCol, Col: c}, k
		} else {
			return Operand{Kind: OExpr}, i
		}
	}
	if j < len(p.t) && p.t[j].Kind == Op && strings.Contains("+-*/%||", p.t[j].Text) && p.t[j].Text != "" {
		return Operand{Kind: OExpr}, j
	}
	return o, j
}

var cmpOps = map[string]string{"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
var flipped = map[string]string{"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

// conds finds predicates in the condition tokens [a, b).
func (p *parser) conds(a, b int) {
	t := p.t[:b]
	sub := &parser{s: p.s, t: t}
	i := a
	for i < b {
		if c, j, ok := sub.colRef(i); ok {
			i = sub.predAfterCol(i, c, j)
			continue
		}
		// operand op column
		if t[i].Kind == Param || t[i].Kind == Number || t[i].Kind == String {
			o, j := sub.operand(i)
			if o.Kind != OExpr && j < b && t[j].Kind == Op {
				if op, ok := cmpOps[t[j].Text]; ok {
					if c, k, ok := sub.colRef(j + 1); ok && !sub.followsArith(k) {
						p.s.Preds = append(p.s.Preds, Pred{Kind: Compare, Op: flipped[op], Col: c, Args: []Operand{o}, From: i, To: k})
						i = k
						continue
					}
				}
			}
		}
		i++
	}
}

func (p *parser) followsArith(j int) bool {
	return j < len(p.t) && p.t[j].Kind == Op && strings.Contains("+-*/%||::", p.t[j].Text)
}

// predAfterCol recognises the predicate that starts with column c at
// tokens [i, j) and returns the index after it.
func (p *parser) predAfterCol(i int, c ColRef, j int) int {
	add := func(pr Pred) int {
		pr.Col, pr.From = c, i
		p.s.Preds = append(p.s.Preds, pr)
		return pr.To
	}
	bare := func() int { return add(Pred{Kind: Bare, To: j}) }
	if j >= len(p.t) {
		return bare()
	}
	if p.followsArith(j) {
		return bare()
	}
	if p.t[j].Kind == Op {
		if op, ok := cmpOps[p.t[j].Text]; ok {
			o, k := p.operand(j + 1)
			if o.Kind == OExpr {
				return add(Pred{Kind: Bare, To: j + 1})
			}
			return add(Pred{Kind: Compare, Op: op, Args: []Operand{o}, To: k})
		}
		return bare()
	}
	not := false
	k := j
	if p.is(k, "is") {
		if p.is(k+1, "not") && p.is(k+2, "null") {
			return add(Pred{Kind: IsNull, Not: true, To: k + 3})
		}
		if p.is(k+1, "null") {
			return add(Pred{Kind: IsNull, To: k + 2})
		}
		return bare()
	}
	if p.is(k, "not") {
		not = true
		k++
	}
	switch {
	case p.is(k, "between"):
		lo, m := p.operand(k + 1)
		if lo.Kind == OExpr || !p.is(m, "and") {
			return bare()
		}
		hi, n := p.operand(m + 1)
		if hi.Kind == OExpr {
			return bare()
		}
		return add(Pred{Kind: Between, Not: not, Args: []Operand{lo, hi}, To: n})
	case p.is(k, "in"):
		if !p.op(k+1, "(") {
			return bare()
		}
		var args []Operand
		m := k + 2
		for {
			o, n := p.operand(m)
			if o.Kind == OExpr {
				return bare()
			}
			args = append(args, o)
			if p.op(n, ",") {
				m = n + 1
				continue
			}
			if p.op(n, ")") {
				return add(Pred{Kind: In, Not: not, Args: args, To: n + 1})
			}
			return bare()
		}
	case p.is(k, "like"):
		o, m := p.operand(k + 1)
		if o.Kind == OExpr || p.is(m, "escape") {
			return bare()
		}
		return add(Pred{Kind: Like, Not: not, Args: []Operand{o}, To: m})
	}
	return bare()
}

// items reads ORDER BY or GROUP BY items in [a, b).
func (p *parser) items(a, b int, kind PredKind) {
	start := a
	depth := 0
	for i := a; i <= b; i++ {
		if i < b {
			if p.op(i, "(") {
				depth++
			} else if p.op(i, ")") {
				depth--
			}
			if !(depth == 0 && p.op(i, ",")) {
				continue
			}
		}
		sub := &parser{s: p.s, t: p.t[:i]}
		if c, j, ok := sub.colRef(start); ok {
			desc := false
			end := j
			if sub.is(j, "asc") {
				end = j + 1
			} else if sub.is(j, "desc") {
				desc, end = true, j+1
			}
			if sub.is(end, "nulls") {
				end += 2
			}
			if end == i {
				p.s.Preds = append(p.s.Preds, Pred{Kind: kind, Col: c, Desc: desc, From: start, To: j})
				start = i + 1
				continue
			}
		}
		sub.conds(start, i)
		start = i + 1
	}
}

// clauses splits a SELECT at depth 0 by its clause keywords.
func (p *parser) selectStmt() error {
	type clause struct {
		name       string
		start, end int
	}
	var cs []clause
	depth := 0
	for i := 0; i < len(p.t); i++ {
		if p.op(i, "(") {
			depth++
			continue
		}
		if p.op(i, ")") {
			depth--
			if depth < 0 {
				return p.errf(i, "unbalanced parenthesis")
			}
			continue
		}
		if depth > 0 {
			if p.is(i, "select") {
				return p.errf(i, "subqueries are not supported")
			}
			continue
		}
		var name string
		skip := 1
		switch {
		case p.is(i, "select") && i == 0, p.is(i, "from"), p.is(i, "where"), p.is(i, "having"),
			p.is(i, "limit"), p.is(i, "offset"):
			name = strings.ToLower(p.t[i].Text)
		case (p.is(i, "group") || p.is(i, "order")) && p.is(i+1, "by"):
			name, skip = strings.ToLower(p.t[i].Text), 2
		case p.is(i, "union") || p.is(i, "except") || p.is(i, "intersect"):
			return p.errf(i, "%s is not supported", strings.ToLower(p.t[i].Text))
		default:
			continue
		}
		if len(cs) > 0 {
			cs[len(cs)-1].end = i
		}
		cs = append(cs, clause{name: name, start: i + skip, end: len(p.t)})
		i += skip - 1
	}
	if depth != 0 {
		return p.errf(len(p.t), "unbalanced parenthesis")
	}
	for _, c := range cs {
		switch c.name {
		case "select":
			if err := p.selectItems(c.start, c.end); err != nil {
				return err
			}
			p.conds(c.start, c.end)
			// Column references in the select list are returned as they
			// are; only conditions need keys.
			kept := p.s.Preds[:0]
			for _, pr := range p.s.Preds {
				if pr.From < c.start || pr.From >= c.end || pr.Kind != Bare {
					kept = append(kept, pr)
				}
			}
			p.s.Preds = kept
		case "from":
			if err := p.from(c.start, c.end); err != nil {
				return err
			}
		case "where", "having":
			p.conds(c.start, c.end)
		case "group":
			p.items(c.start, c.end, GroupBy)
		case "order":
			p.items(c.start, c.end, OrderBy)
		}
	}
	return nil
}

// from reads table references and join conditions in [a, b).
func (p *parser) from(a, b int) error {
	sub := &parser{s: p.s, t: p.t[:b]}
	i := a
	for i < b {
		if sub.op(i, "(") {
			return sub.errf(i, "derived tables are not supported")
		}
		name, j, err := sub.tableName(i)
		if err != nil {
			return err
		}
		tb := Table{Name: name, From: i}
		if sub.is(j, "as") {
			j++
		}
		if al, k, ok := sub.name(j); ok {
			tb.Alias, j = al, k
		}
		tb.To = j
		p.s.Tables = append(p.s.Tables, tb)
		i = j
		if i >= b {
			break
		}
		if sub.op(i, ",") {
			i++
			continue
		}
		if sub.is(i, "on") {
			k := i + 1
			for k < b && !sub.is(k, "join") && !sub.is(k, "inner") && !sub.is(k, "left") &&
				!sub.is(k, "cross") && !sub.is(k, "right") && !sub.is(k, "full") && !sub.op(k, ",") {
				k++
			}
			p.conds(i+1, k)
			i = k
			if sub.op(i, ",") {
				i++
				continue
			}
		}
		for i < b && (sub.is(i, "inner") || sub.is(i, "left") || sub.is(i, "right") || sub.is(i, "full") ||
			sub.is(i, "outer") || sub.is(i, "cross")) {
			i++
		}
		if i < b && !sub.is(i, "join") {
			return sub.errf(i, "unexpected %q in FROM", p.t[i].Text)
		}
		i++
	}
	return nil
}

func (p *parser) insertStmt() error {
	if !p.is(1, "into") {
		return p.errf(1, "INTO expected")
	}
	name, i, err := p.tableName(2)
	if err != nil {
		return err
	}
	p.s.Tables = []Table{{Name: name}}
	if p.op(i, "(") {
		i++
		for {
			c, j, ok := p.name(i)
			if !ok {
				return p.errf(i, "column name expected")
			}
			p.s.Columns = append(p.s.Columns, c)
			if p.op(j, ",") {
				i = j + 1
				continue
			}
			if !p.op(j, ")") {
				return p.errf(j, "')' expected")
			}
			i = j + 1
			break
		}
	}
	if !p.is(i, "values") {
		return p.errf(i, "VALUES expected")
	}
	i++
	for {
		if !p.op(i, "(") {
			return p.errf(i, "'(' expected")
		}
		i++
		var row []Value
		for {
			v, j, err := p.value(i)
			if err != nil {
				return err
			}
			if p.s.Columns != nil && len(row) < len(p.s.Columns) {
				v.Column = p.s.Columns[len(row)]
			}
			row = append(row, v)
			if p.op(j, ",") {
				i = j + 1
				continue
			}
			if !p.op(j, ")") {
				return p.errf(j, "')' expected")
			}
			i = j + 1
			break
		}
		if p.s.Columns != nil && len(row) != len(p.s.Columns) {
			return p.errf(i-1, "%d values for %d columns", len(row), len(p.s.Columns))
		}
		p.s.Rows = append(p.s.Rows, row)
		if p.op(i, ",") {
			i++
			continue
		}
		break
	}
	if i != len(p.t) {
		return p.errf(i, "unexpected %q after VALUES", p.t[i].Text)
	}
	return nil
}

// value reads one value expression up to a ',' or ')' at depth 0.
func (p *parser) value(i int) (Value, int, error) {
	o, j := p.operand(i)
	if o.Kind != OExpr && (p.op(j, ",") || p.op(j, ")") || j == len(p.t) || p.is(j, "where")) {
		return Value{Operand: o, From: i, To: j}, j, nil
	}
	depth := 0
	k := i
	for ; k < len(p.t); k++ {
		if p.op(k, "(") {
			depth++
		} else if p.op(k, ")") {
			if depth == 0 {
				break
			}
			depth--
		} else if depth == 0 && (p.op(k, ",") || p.is(k, "where")) {
			break
		}
	}
	if k == i {
		return Value{}, i, p.errf(i, "value expected")
	}
	// Conditions inside an expression still count (CASE WHEN c = $1 …).
	p.conds(i, k)
	return Value{Operand: Operand{Kind: OExpr}, From: i, To: k}, k, nil
}

func (p *parser) updateStmt() error {
	name, i, err := p.tableName(1)
	if err != nil {
		return err
	}
	p.s.Tables = []Table{{Name: name}}
	if !p.is(i, "set") {
		return p.errf(i, "SET expected")
	}
	i++
	for {
		c, j, ok := p.name(i)
		if !ok || !p.op(j, "=") {
			return p.errf(i, "column = value expected")
		}
		v, k, err := p.value(j + 1)
		if err != nil {
			return err
		}
		v.Column = c
		p.s.Sets = append(p.s.Sets, v)
		if p.op(k, ",") {
			i = k + 1
			continue
		}
		i = k
		break
	}
	return p.where(i)
}

func (p *parser) deleteStmt() error {
	if !p.is(1, "from") {
		return p.errf(1, "FROM expected")
	}
	name, i, err := p.tableName(2)
	if err != nil {
		return err
	}
	p.s.Tables = []Table{{Name: name}}
	return p.where(i)
}

func (p *parser) where(i int) error {
	if i == len(p.t) {
		return nil
	}
	if !p.is(i, "where") {
		return p.errf(i, "WHERE expected")
	}
	p.conds(i+1, len(p.t))
	return nil
}

// selectItems splits the select list [a, b) into items.
func (p *parser) selectItems(a, b int) error {
	if p.is(a, "distinct") || p.is(a, "all") {
		a++
	}
	start, depth := a, 0
	for i := a; i <= b; i++ {
		if i < b {
			if p.op(i, "(") {
				depth++
			} else if p.op(i, ")") {
				depth--
			}
			if !(depth == 0 && p.op(i, ",")) {
				continue
			}
		}
		if i == start {
			return p.errf(i, "select list item expected")
		}
		sub := &parser{s: p.s, t: p.t[:i]}
		switch {
		case i-start == 1 && sub.op(start, "*"):
			p.s.Items = append(p.s.Items, Item{Star: true, From: start, To: i})
		case i-start == 3 && sub.op(start+1, ".") && sub.op(start+2, "*"):
			q, _, _ := sub.name(start)
			p.s.Items = append(p.s.Items, Item{Star: true, Qual: q, From: start, To: i})
		default:
			c, j, ok := sub.colRef(start)
			colEnd := j
			if ok && sub.is(j, "as") {
				j++
			}
			if ok && j < i {
				if _, k, ok2 := sub.name(j); ok2 {
					j = k
				}
			}
			if ok && j == i {
				p.s.Items = append(p.s.Items, Item{Col: &c, From: start, To: colEnd})
			} else {
				it := Item{Expr: true}
				if sub.t[start].Kind == Ident && sub.op(start+1, "(") {
					it.Func = strings.ToLower(sub.t[start].Text)
				}
				p.s.Items = append(p.s.Items, it)
			}
		}
		start = i + 1
	}
	return nil
}
