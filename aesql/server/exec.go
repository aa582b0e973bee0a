package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/ddl"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

// result is what a statement returns.
type result struct {
	cols []column // nil for statements without rows
	rows [][]any
	tag  string
}

type column struct {
	name string
	oid  uint32
	// table and attnum identify an encrypted column's origin (0 when
	// none): the table's catalog position and the column's ordinal.
	attnum uint16
}

// Type OIDs used in results.
const (
	oidBool      = 16
	oidBytea     = 17
	oidInt8      = 20
	oidInt2      = 21
	oidInt4      = 23
	oidText      = 25
	oidFloat4    = 700
	oidFloat8    = 701
	oidVarchar   = 1043
	oidNumeric   = 1700
	oidDate      = 1082
	oidTimestamp = 1114
)

// oidOfColumn is the PostgreSQL type a catalog column's values travel as.
func oidOfColumn(c *colInfo) uint32 {
	if c == nil {
		return oidText
	}
	if c.encrypted() {
		return oidBytea
	}
	switch c.Def.Type.Name {
	case "bit", "tinyint", "smallint", "int", "integer", "bigint":
		return oidInt8
	case "real", "float":
		return oidFloat8
	case "decimal", "numeric", "money", "smallmoney":
		return oidNumeric
	case "binary", "varbinary", "image":
		return oidBytea
	case "date":
		return oidDate
	case "datetime", "datetime2", "smalldatetime":
		return oidTimestamp
	}
	return oidText
}

// describeStatement returns the parameter types of query, inferred from
// the columns they meet (text when unknown), and its row shape, found by
// running it with NULL parameters, enclave predicates false and LIMIT 0
// (nil for statements without rows).
func (s *Server) describeStatement(ctx context.Context, c *connState, query string) ([]uint32, []column, error) {
	st, err := sqlq.Analyze(query)
	if err != nil {
		return nil, nil, errf(ErrSyntax, "%v", err)
	}
	s.mu.Lock()
	p, err := s.plan(st)
	if err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	oids := make([]uint32, st.Params)
	for i := range oids {
		oids[i] = oidText
	}
	set := func(a sqlq.Operand, col *colInfo) {
		if a.Kind == sqlq.OParam && a.N <= len(oids) && col != nil {
			oids[a.N-1] = oidOfColumn(col)
		}
	}
	for _, pr := range st.Preds {
		_, col := s.resolve(p, pr.Col)
		for _, a := range pr.Args {
			set(a, col)
		}
	}
	if len(p.tables) > 0 && p.tables[0].info != nil {
		t := p.tables[0].info
		for _, row := range st.Rows {
			for i, v := range row {
				col := t.col(v.Column)
				if st.Columns == nil && i < len(t.Cols) {
					col = t.Cols[i]
				}
				set(v.Operand, col)
			}
		}
		for _, v := range st.Sets {
			set(v.Operand, t.col(v.Column))
		}
	}
	s.mu.Unlock()
	if st.Kind != sqlq.Select {
		return oids, nil, nil
	}
	repl := map[int]replacement{}
	for _, op := range p.ops {
		text := "(0)"
		if op.pred.Kind == sqlq.OrderBy || op.pred.Kind == sqlq.GroupBy {
			text = "NULL"
		}
		repl[op.pred.From] = replacement{to: op.pred.To, text: text}
	}
	s.expandStars(p, repl)
	sqlText, maxParam := rewrite(st, repl, s.d.postgres)
	rows, err := c.conn.QueryContext(ctx, "SELECT * FROM ("+sqlText+") AS aesql_d LIMIT 0", make([]any, maxParam)...)
	if err != nil {
		return nil, nil, dbError(err)
	}
	defer rows.Close()
	r, err := collect(rows, p, "SELECT")
	if err != nil {
		return nil, nil, err
	}
	// Expressions have no declared type: guess from their function.
	if p.ncols == len(r.cols) {
		i := 0
		for _, it := range st.Items {
			if it.Star {
				i = -1
				break
			}
			if it.Expr && r.cols[i].oid == oidText {
				switch it.Func {
				case "count", "length", "instr", "unicode":
					r.cols[i].oid = oidInt8
				case "avg", "total":
					r.cols[i].oid = oidFloat8
				}
			}
			i++
		}
	}
	return oids, r.cols, nil
}

// boundTable is a table of the statement with its catalog entry (nil for
// tables created outside the server, which have no encrypted columns).
type boundTable struct {
	ref  sqlq.Table
	info *tableInfo
}

func (b *boundTable) qual(d dialect) string {
	if b.ref.Alias != "" {
		return d.ident(b.ref.Alias)
	}
	return d.ident(b.ref.Name)
}

// plan is the server's view of a statement on encrypted data.
type plan struct {
	st     *sqlq.Stmt
	tables []*boundTable
	// params maps parameter numbers to the encrypted column they are
	// compared with or stored into.
	params map[int]*colInfo
	// ops are the predicates the enclave evaluates.
	ops []enclaveOp
	// result maps each output column (0-based) to its encrypted column,
	// when known.
	result map[int]*colInfo
	ncols  int // output columns known from the select list, -1 unknown
	// ranked are the indexed randomized columns of the statement's
	// tables, as the catalog had them when planned.
	ranked map[*colInfo]bool
}

// hasRanked reports whether t has indexed randomized columns.
func (p *plan) hasRanked(t *tableInfo) bool {
	for _, c := range t.Cols {
		if p.ranked[c] {
			return true
		}
	}
	return false
}

type enclaveOp struct {
	st    *sqlq.Stmt
	index int // in st.Preds
	pred  sqlq.Pred
	table *boundTable
	col   *colInfo
	// ranked: the column has an index, so the predicate becomes a
	// condition on its rank column.
	ranked bool
	// grouped: the statement groups by this column.
	grouped bool
}

func (s *Server) resolve(p *plan, c sqlq.ColRef) (*boundTable, *colInfo) {
	for _, t := range p.tables {
		if c.Qual != "" && !strings.EqualFold(c.Qual, t.ref.Alias) && !(t.ref.Alias == "" && strings.EqualFold(c.Qual, t.ref.Name)) {
			continue
		}
		if t.info == nil {
			continue
		}
		if col := t.info.col(c.Name); col != nil {
			return t, col
		}
	}
	return nil, nil
}

func encDesc(c *colInfo) string {
	e := c.Def.Encryption
	return fmt.Sprintf("%s encrypted with (encryption_type = '%s', encryption_algorithm_name = '%s', column_encryption_key_name = '%s')",
		typeName(c.Def.Type), e.Type, e.Algorithm, e.ColumnEncryptionKey)
}

func typeName(t ddl.DataType) string {
	if t.Max {
		return t.Name + "(max)"
	}
	if len(t.Args) == 0 {
		return t.Name
	}
	var a []string
	for _, n := range t.Args {
		a = append(a, strconv.Itoa(n))
	}
	return t.Name + "(" + strings.Join(a, ",") + ")"
}

func clash(c *colInfo, what string) error {
	return errf(ErrTypeClash, "%s is incompatible with %s", what, encDesc(c))
}

// bindParam records that parameter n carries values of column c.
func bindParam(p *plan, n int, c *colInfo) error {
	if old, ok := p.params[n]; ok && old != c {
		if old == nil || c == nil || !sameEncryption(old, c) {
			return errf(ErrTypeClash, "parameter $%d is used with columns of different encryption", n)
		}
	}
	p.params[n] = c
	return nil
}

func sameEncryption(a, b *colInfo) bool {
	return a.Def.Encryption.Type == b.Def.Encryption.Type &&
		strings.EqualFold(a.Def.Encryption.ColumnEncryptionKey, b.Def.Encryption.ColumnEncryptionKey) && a.Type == b.Type
}

func (s *Server) cmkOf(c *colInfo) *cmkInfo {
	k := s.cat.ceks[key(c.Def.Encryption.ColumnEncryptionKey)]
	if k == nil || len(k.Values) == 0 {
		return nil
	}
	return s.cat.cmks[key(k.Values[0].CMK)]
}

// plan analyses st against the catalog. s.mu must be held.
func (s *Server) plan(st *sqlq.Stmt) (*plan, error) {
	p := &plan{st: st, params: map[int]*colInfo{}, result: map[int]*colInfo{}, ncols: -1, ranked: map[*colInfo]bool{}}
	for _, t := range st.Tables {
		b := &boundTable{ref: t, info: s.cat.tables[key(t.Name)]}
		p.tables = append(p.tables, b)
		if b.info != nil {
			for _, c := range b.info.Cols {
				if c.Ranked {
					p.ranked[c] = true
				}
			}
		}
	}
	for i, pr := range st.Preds {
		_, col := s.resolve(p, pr.Col)
		if col == nil || !col.encrypted() {
			// A plaintext column compared with an encrypted one.
			for _, a := range pr.Args {
				if a.Kind == sqlq.OCol {
					if _, oc := s.resolve(p, a.Col); oc != nil && oc.encrypted() {
						return nil, clash(oc, "a plaintext column")
					}
				}
			}
			continue
		}
		det := col.Def.Encryption.Type == ddl.Deterministic
		switch pr.Kind {
		case sqlq.IsNull:
			continue
		case sqlq.Bare:
			return nil, errf(ErrTypeClash, "column %s (%s) cannot be used in an expression", pr.Col, encDesc(col))
		case sqlq.OrderBy:
			if det {
				return nil, errf(ErrUnsupported, "ORDER BY %s needs randomized encryption with an enclave-enabled key", pr.Col)
			}
		case sqlq.GroupBy:
			if det {
				continue
			}
		case sqlq.Compare, sqlq.Between, sqlq.In, sqlq.Like:
			for _, a := range pr.Args {
				switch a.Kind {
				case sqlq.OParam:
					if err := bindParam(p, a.N, col); err != nil {
						return nil, err
					}
				case sqlq.OCol:
					_, oc := s.resolve(p, a.Col)
					if oc == nil || !oc.encrypted() {
						return nil, clash(col, "a plaintext column")
					}
					if !det || !sameEncryption(col, oc) || pr.Kind != sqlq.Compare || (pr.Op != "=" && pr.Op != "<>") {
						return nil, errf(ErrUnsupported, "comparing %s with %s needs deterministic encryption under the same key", pr.Col, a.Col)
					}
				case sqlq.ONull:
					return nil, errf(ErrTypeClash, "NULL compared with %s: use IS NULL", pr.Col)
				default:
					return nil, clash(col, "a literal")
				}
			}
			if det {
				if pr.Kind == sqlq.In || pr.Kind == sqlq.Compare && (pr.Op == "=" || pr.Op == "<>") {
					continue
				}
				return nil, errf(ErrUnsupported, "%s on %s needs randomized encryption with an enclave-enabled key (deterministic columns support equality only)", predText(pr), pr.Col)
			}
		default:
			continue
		}
		// Randomized: the enclave evaluates it.
		if m := s.cmkOf(col); m == nil || !m.Enclave {
			return nil, errf(ErrUnsupported, "%s on %s needs a column master key with ENCLAVE_COMPUTATIONS", predText(pr), pr.Col)
		}
		t, _ := s.resolve(p, pr.Col)
		p.ops = append(p.ops, enclaveOp{st: st, index: i, pred: pr, table: t, col: col, ranked: col.Ranked})
	}
	for i := range p.ops {
		for _, o := range p.ops {
			if o.pred.Kind == sqlq.GroupBy && o.table == p.ops[i].table && o.col == p.ops[i].col {
				p.ops[i].grouped = true
			}
		}
	}
	// Values stored into encrypted columns.
	if len(st.Tables) > 0 {
		t := p.tables[0]
		store := func(v sqlq.Value, col *colInfo) error {
			if col == nil || !col.encrypted() {
				if v.Kind == sqlq.OParam {
					return bindParam(p, v.N, nil)
				}
				return nil
			}
			switch v.Kind {
			case sqlq.OParam:
				return bindParam(p, v.N, col)
			case sqlq.ONull:
				return nil
			}
			return clash(col, "a literal or expression")
		}
		switch st.Kind {
		case sqlq.Insert:
			for _, row := range st.Rows {
				for i, v := range row {
					var col *colInfo
					if t.info != nil {
						if st.Columns != nil {
							col = t.info.col(v.Column)
						} else if i < len(t.info.Cols) {
							col = t.info.Cols[i]
						}
					}
					if err := store(v, col); err != nil {
						return nil, err
					}
				}
			}
		case sqlq.Update:
			for _, v := range st.Sets {
				var col *colInfo
				if t.info != nil {
					col = t.info.col(v.Column)
				}
				if err := store(v, col); err != nil {
					return nil, err
				}
			}
		}
	}
	// Output columns.
	if st.Kind == sqlq.Select {
		n := 0
		known := true
		for _, it := range st.Items {
			switch {
			case it.Star:
				for _, t := range p.tables {
					if it.Qual != "" && !strings.EqualFold(it.Qual, t.ref.Alias) && !(t.ref.Alias == "" && strings.EqualFold(it.Qual, t.ref.Name)) {
						continue
					}
					if t.info == nil {
						known = false
						continue
					}
					for _, c := range t.info.Cols {
						if c.encrypted() {
							p.result[n] = c
						}
						n++
					}
				}
			case it.Col != nil:
				if _, c := s.resolve(p, *it.Col); c != nil && c.encrypted() {
					p.result[n] = c
				}
				n++
			default:
				n++
			}
		}
		if known {
			p.ncols = n
		} else {
			p.result = map[int]*colInfo{}
		}
	}
	return p, nil
}

func predText(p sqlq.Pred) string {
	not := ""
	if p.Not {
		not = "NOT "
	}
	switch p.Kind {
	case sqlq.Compare:
		return "operator " + p.Op
	case sqlq.Between:
		return not + "BETWEEN"
	case sqlq.In:
		return not + "IN"
	case sqlq.Like:
		return not + "LIKE"
	}
	return strings.ToUpper(p.Kind.String())
}

// checkCells refuses parameters for encrypted columns that are not cells.
func checkCells(p *plan, args []any) error {
	for n, c := range p.params {
		if c == nil {
			continue
		}
		if n > len(args) {
			return errf(ErrSyntax, "parameter $%d has no value", n)
		}
		switch v := args[n-1].(type) {
		case nil:
		case []byte:
			if len(v) < aesql.MinCellSize || v[0] != 1 || (len(v)-aesql.MinCellSize)%16 != 0 {
				return errf(ErrCell, "parameter $%d for %s is not an encrypted cell", n, c.Name)
			}
		default:
			return clash(c, fmt.Sprintf("parameter $%d (plaintext)", n))
		}
	}
	return nil
}

// rewrite renders the statement for SQLite: spans replaced, $n as ?n
// (casts dropped). It returns the SQL and the highest parameter used.
func rewrite(st *sqlq.Stmt, repl map[int]replacement, pg bool) (string, int) {
	var b strings.Builder
	last := 0
	maxParam := 0
	t := st.Tokens
	for i := 0; i < len(t); i++ {
		if r, ok := repl[i]; ok {
			b.WriteString(st.Src[last:t[i].Pos])
			b.WriteString(" " + r.text + " ")
			last = t[r.to-1].End
			i = r.to - 1
			continue
		}
		if t[i].Kind == sqlq.Param && pg {
			maxParam = max(maxParam, t[i].N)
			continue
		}
		if t[i].Kind == sqlq.Param {
			b.WriteString(st.Src[last:t[i].Pos])
			fmt.Fprintf(&b, "?%d", t[i].N)
			maxParam = max(maxParam, t[i].N)
			last = t[i].End
			for i+2 < len(t) && t[i+1].Kind == sqlq.Op && t[i+1].Text == "::" && (t[i+2].Kind == sqlq.Ident || t[i+2].Kind == sqlq.QIdent) {
				last = t[i+2].End
				i += 2
			}
		}
	}
	b.WriteString(st.Src[last:])
	return b.String(), maxParam
}

type replacement struct {
	to   int
	text string
}

// sparse is the most matches written inline as a rowid list (SQLite then
// looks the rows up by rowid); more go through aesql_match in a scan.
const sparse = 1 << 16

// execute runs one statement for connection c.
func (s *Server) execute(ctx context.Context, c *connState, query string, args []any) (*result, error) {
	r, err := s.execute1(ctx, c, query, args)
	if err != nil && c.tx != nil && !s.d.postgres && !s.inTransaction(ctx, c) {
		// SQLite ended the transaction (it rolls back on some errors).
		c.tx = nil
	}
	return r, err
}

func (s *Server) execute1(ctx context.Context, c *connState, query string, args []any) (*result, error) {
	toks, err := sqlq.Lex(query)
	if err != nil {
		return nil, errf(ErrSyntax, "%v", err)
	}
	if len(trimSemicolons(toks)) == 0 {
		return &result{}, nil
	}
	if r, err, ok := s.special(ctx, c, toks, args); ok {
		return r, err
	}
	if ctl := parseTxControl(toks); ctl.kind != txNone {
		return s.txStatement(ctx, c, query, toks, ctl)
	}
	if r, err, ok := s.indexDDL(ctx, c, toks); ok {
		return r, err
	}
	if isDDL(toks) {
		stmts, perr := ddl.Parse(query)
		if perr == nil {
			if c.tx != nil {
				return nil, errInTx(commandTag(toks, 0))
			}
			tag, err := s.applyDDL(ctx, c.conn, stmts)
			if err != nil {
				return nil, err
			}
			return &result{tag: tag}, nil
		}
		// Column keys and tables with encrypted columns must parse; other
		// CREATE and DROP TABLE statements are SQLite's.
		if toks[1].Is("column") || mentions(toks, "encrypted") {
			return nil, errf(ErrSyntax, "%v", perr)
		}
	}
	st, err := sqlq.Analyze(query)
	if err != nil {
		return nil, errf(ErrSyntax, "%v", err)
	}
	s.mu.Lock()
	p, err := s.plan(st)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := checkCells(p, args); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		r, err := s.runStatement(ctx, c, toks, p, args, attempt)
		if !errors.Is(err, errStale) {
			return r, err
		}
		if attempt+1 >= maxAttempts {
			return nil, errf(ErrConflict, "other connections kept committing to the tables the statement reads; retry")
		}
	}
}

// runStatement runs an analysed statement once. Outside a transaction the
// first attempt evaluates on shared snapshots and the next ones inside a
// transaction of the server's, on private snapshots read in it; inside
// the client's transaction, on the snapshots that transaction sees
// (tx.go). It returns errStale, having changed nothing, when a snapshot
// it used went stale under it.
func (s *Server) runStatement(ctx context.Context, c *connState, toks []sqlq.Token, p *plan, args []any, attempt int) (*result, error) {
	// The operations as this run evaluates them (on private snapshots,
	// as on columns without an index).
	p = &plan{st: p.st, tables: p.tables, params: p.params, ops: slices.Clone(p.ops), result: p.result, ncols: p.ncols, ranked: p.ranked}
	st := p.st
	reset := func() {
		clear(c.used)
		c.used, c.own, c.stmtSnaps = c.used[:0], false, nil
	}
	reset()
	defer reset()
	rowsOut := st.Kind == sqlq.Select || returnsRows(toks)
	all := st.Kind == sqlq.Other
	write := all && mayWrite(toks) || st.Kind == sqlq.Insert || st.Kind == sqlq.Update || st.Kind == sqlq.Delete
	var tables []string
	if write && !all {
		for _, t := range st.Tables {
			tables = append(tables, key(t.Name))
		}
	}
	own := c.tx == nil && attempt > 0
	if own {
		begin := "BEGIN"
		switch {
		case s.d.postgres:
			begin = "BEGIN ISOLATION LEVEL REPEATABLE READ"
		case write:
			begin = "BEGIN IMMEDIATE"
		}
		if _, err := c.conn.ExecContext(ctx, begin); err != nil {
			return nil, dbError(err)
		}
		c.own, c.stmtSnaps = true, map[string]*snapshot{}
	}
	inOwnTx := own
	defer func() {
		if inOwnTx {
			c.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	sqlText, qargs, handles, err := s.prepare(ctx, c, p, args)
	defer func() {
		for _, h := range handles {
			results.Delete(h)
		}
	}()
	if err != nil {
		return nil, err
	}
	dbErr := func(err error) error {
		if own && serializationFailure(err) {
			// PostgreSQL refused the write in the server's transaction:
			// run the statement again.
			return errStale
		}
		return dbError(err)
	}
	do := func() (*result, error) {
		if rowsOut {
			rows, err := c.conn.QueryContext(ctx, sqlText, qargs...)
			if err != nil {
				return nil, dbErr(err)
			}
			defer rows.Close()
			return collect(rows, p, commandTag(toks, 0))
		}
		res, err := c.conn.ExecContext(ctx, sqlText, qargs...)
		if err != nil {
			return nil, dbErr(err)
		}
		n, _ := res.RowsAffected()
		return &result{tag: commandTag(toks, n)}, nil
	}
	exec := func(q string) error {
		if _, err := c.conn.ExecContext(ctx, q); err != nil {
			return dbError(err)
		}
		return nil
	}
	// doFresh runs a statement that writes nothing and refuses its answer
	// if a snapshot it used went stale meanwhile.
	doFresh := func() (*result, error) {
		r, err := do()
		if err == nil && !s.fresh(c) {
			return nil, errStale
		}
		return r, err
	}
	// commit ends the server's own transaction; done ends the write it
	// announced, whether or not the commit succeeds.
	commit := func(r *result, done func()) (*result, error) {
		inOwnTx = false
		err := exec("COMMIT")
		done()
		if err != nil {
			c.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return nil, err
		}
		return r, nil
	}
	switch {
	case c.tx != nil:
		if write {
			c.tx.wrote(tables, all)
		}
		if !s.needsCheck(c) {
			return do()
		}
		if rowsOut && !write {
			return doFresh()
		}
		// A write that may have to be undone.
		if err := exec("SAVEPOINT aesql_stmt"); err != nil {
			return nil, err
		}
		r, err := do()
		if err == nil && !s.fresh(c) {
			exec("ROLLBACK TO aesql_stmt")
			err = errStale
		}
		exec("RELEASE aesql_stmt")
		return r, err
	case own:
		r, err := do()
		if err != nil {
			return nil, err
		}
		done := func() {}
		if write {
			done = s.beginWrite(tables, all)
		}
		return commit(r, done)
	case len(c.used) == 0:
		if write {
			defer s.beginWrite(tables, all)()
		}
		return do()
	case !write:
		return doFresh()
	}
	// A write evaluated on shared snapshots: run it in a transaction and
	// commit it only if no other write started since they were read.
	if err := exec("BEGIN"); err != nil {
		return nil, err
	}
	inOwnTx = true
	r, err := do()
	if err != nil {
		return nil, err
	}
	s.genMu.Lock()
	if !s.freshLocked(c) {
		s.genMu.Unlock()
		return nil, errStale
	}
	done := s.beginWriteLocked(tables, all)
	s.genMu.Unlock()
	return commit(r, done)
}

// prepare has the enclave evaluate the statement's enclave operations
// and returns the SQL for the storage, its arguments and the handles of
// the enclave answers it reads.
func (s *Server) prepare(ctx context.Context, c *connState, p *plan, args []any) (string, []any, []int64, error) {
	st := p.st
	repl := map[int]replacement{}
	var handles []int64
	c.extra = nil
	joins := map[int]string{} // PostgreSQL: rank joins after table references
	for i := range p.ops {
		op := &p.ops[i]
		r, h, join, err := s.evaluate(ctx, c, op, args)
		if h != 0 {
			handles = append(handles, h)
		}
		if err != nil {
			return "", nil, handles, err
		}
		repl[op.pred.From] = replacement{to: op.pred.To, text: r}
		if join != "" {
			joins[op.table.ref.From] += join
		}
	}
	if grouped(st) {
		s.groupedItems(p, repl)
	}
	extraParam := s.rankWrites(p, repl)
	s.expandStars(p, repl)
	for from, join := range joins {
		for _, t := range p.tables {
			if t.ref.From == from && t.ref.To > from {
				src := st.Src[st.Tokens[from].Pos:st.Tokens[t.ref.To-1].End]
				repl[from] = replacement{to: t.ref.To, text: src + join}
			}
		}
	}
	sqlText, maxParam := rewrite(st, repl, s.d.postgres)
	maxParam = max(maxParam, extraParam)
	if maxParam > len(args) {
		return "", nil, handles, errf(ErrSyntax, "statement uses $%d but %d parameters were given", maxParam, len(args))
	}
	qargs := args[:maxParam]
	if s.d.postgres {
		// Enclave answers travel as extra parameters ($n beyond the
		// client's), numbered from len(args)+1 in evaluate.
		qargs = append(args[:len(args):len(args)], c.extra...)
		c.extra = nil
	}
	return sqlText, qargs, handles, nil
}

// mayWrite reports whether a statement sqlq does not analyse may change
// table data: anything but transaction control, VALUES, PRAGMA, and WITH
// or EXPLAIN without INSERT, UPDATE, DELETE or MERGE.
func mayWrite(toks []sqlq.Token) bool {
	if len(toks) == 0 || toks[0].Is("values") || toks[0].Is("pragma") {
		return false
	}
	if toks[0].Is("with") || toks[0].Is("explain") {
		return mentions(toks, "insert") || mentions(toks, "update") || mentions(toks, "delete") || mentions(toks, "merge")
	}
	return true
}

// groupedItems rewrites the select list of a grouped query: a
// randomized column grouped by its rank column is selected as the cell
// of any row of the same rank (one index lookup per group); in
// PostgreSQL, which wants selected columns grouped, a randomized column
// grouped by the enclave's ranks is selected as the first of the group's
// cells.
func (s *Server) groupedItems(p *plan, repl map[int]replacement) {
	st := p.st
	for _, it := range st.Items {
		if it.Col == nil {
			continue
		}
		t, col := s.resolve(p, *it.Col)
		for _, op := range p.ops {
			if op.pred.Kind != sqlq.GroupBy || op.col != col || op.table != t {
				continue
			}
			src := st.Src[st.Tokens[it.From].Pos:st.Tokens[it.To-1].End]
			var text, name string
			switch {
			case op.ranked:
				rank := s.d.ident(rankColumn(col))
				text = fmt.Sprintf("(SELECT aesql_x.%s FROM %s AS aesql_x WHERE aesql_x.%s = %s.%s LIMIT 1)",
					s.d.ident(col.Name), s.d.ident(t.info.Name), rank, t.qual(s.d), rank)
				name = quoteIdent(it.Col.Name)
			case s.d.postgres:
				text = "(array_agg(" + src + "))[1]"
			default:
				continue
			}
			if s.d.postgres {
				name = quoteIdent(strings.ToLower(it.Col.Name))
			}
			if it.To == len(st.Tokens) || !st.Tokens[it.To].Is("as") && st.Tokens[it.To].Kind != sqlq.Ident && st.Tokens[it.To].Kind != sqlq.QIdent {
				text += " AS " + name
			}
			repl[it.From] = replacement{to: it.To, text: text}
			break
		}
	}
}

// rankWrites keeps rank columns right under writes: an INSERT without
// a column list names the table's columns (SQLite would otherwise want
// values for the hidden rank columns too), and an UPDATE that stores into
// an indexed column clears its rank, which the column's next load
// assigns. It returns the highest parameter it moved into a replacement.
func (s *Server) rankWrites(p *plan, repl map[int]replacement) int {
	st := p.st
	if len(p.tables) == 0 || p.tables[0].info == nil || !p.hasRanked(p.tables[0].info) {
		return 0
	}
	t := p.tables[0].info
	maxParam := 0
	switch st.Kind {
	case sqlq.Insert:
		if st.Columns != nil || s.d.postgres {
			// PostgreSQL fills the columns after the values with their
			// defaults.
			return 0
		}
		for i, tok := range st.Tokens {
			if tok.Is("values") {
				var cols []string
				for _, c := range t.Cols {
					cols = append(cols, s.d.ident(c.Name))
				}
				repl[i] = replacement{to: i + 1, text: "(" + strings.Join(cols, ", ") + ") VALUES"}
				break
			}
		}
	case sqlq.Update:
		for _, v := range st.Sets {
			c := t.col(v.Column)
			if c == nil || !p.ranked[c] {
				continue
			}
			var val string
			switch v.Kind {
			case sqlq.OParam:
				val = fmt.Sprintf("?%d", v.N)
				if s.d.postgres {
					val = fmt.Sprintf("$%d", v.N)
				}
				maxParam = max(maxParam, v.N)
			case sqlq.ONull:
				val = "NULL"
			default:
				continue // refused by plan
			}
			repl[v.From] = replacement{to: v.To, text: val + ", " + s.d.ident(rankColumn(c)) + " = NULL"}
		}
	}
	return maxParam
}

// expandStars spells out * and t.* over the server's tables in
// PostgreSQL, where they would also select the hidden row ID column, and
// over tables with rank columns, which they hide.
func (s *Server) expandStars(p *plan, repl map[int]replacement) {
	if !s.d.postgres {
		hidden := false
		for _, t := range p.tables {
			hidden = hidden || t.info != nil && p.hasRanked(t.info)
		}
		if !hidden {
			return
		}
	}
	for _, it := range p.st.Items {
		if !it.Star {
			continue
		}
		var cols []string
		for _, t := range p.tables {
			if it.Qual != "" && !strings.EqualFold(it.Qual, t.ref.Alias) && !(t.ref.Alias == "" && strings.EqualFold(it.Qual, t.ref.Name)) {
				continue
			}
			if t.info == nil {
				cols = append(cols, t.qual(s.d)+".*")
				continue
			}
			for _, c := range t.info.Cols {
				cols = append(cols, t.qual(s.d)+"."+s.d.ident(c.Name))
			}
		}
		if len(cols) > 0 {
			repl[it.From] = replacement{to: it.To, text: strings.Join(cols, ", ")}
		}
	}
}

func grouped(st *sqlq.Stmt) bool {
	for _, p := range st.Preds {
		if p.Kind == sqlq.GroupBy {
			return true
		}
	}
	return false
}

func returnsRows(toks []sqlq.Token) bool {
	if len(toks) == 0 {
		return false
	}
	return toks[0].Is("values") || toks[0].Is("pragma") || toks[0].Is("with") || toks[0].Is("explain")
}

func isDDL(t []sqlq.Token) bool {
	if len(t) < 2 {
		return false
	}
	return (t[0].Is("create") || t[0].Is("drop")) && (t[1].Is("column") || t[1].Is("table"))
}

func mentions(t []sqlq.Token, kw string) bool {
	for _, x := range t {
		if x.Is(kw) {
			return true
		}
	}
	return false
}

func commandTag(t []sqlq.Token, n int64) string {
	if len(t) == 0 {
		return ""
	}
	switch w := strings.ToUpper(t[0].Text); w {
	case "INSERT":
		return fmt.Sprintf("INSERT 0 %d", n)
	case "UPDATE", "DELETE":
		return fmt.Sprintf("%s %d", w, n)
	case "SELECT", "VALUES", "PRAGMA", "WITH", "EXPLAIN":
		return "SELECT"
	case "CREATE", "DROP", "ALTER":
		if len(t) > 1 && t[1].Kind == sqlq.Ident {
			return w + " " + strings.ToUpper(t[1].Text)
		}
		return w
	default:
		return w
	}
}

// maxRows bounds a buffered result.
const maxRows = 1 << 24

func collect(rows *sql.Rows, p *plan, tag string) (*result, error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	r := &result{cols: make([]column, len(names))}
	for i, n := range names {
		r.cols[i] = column{name: n, oid: oidOfDecl(types[i].DatabaseTypeName())}
		if c := p.result[i]; c != nil && p.ncols == len(names) {
			r.cols[i].oid = oidBytea
			r.cols[i].attnum = uint16(c.Ordinal)
		}
	}
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if len(r.rows) >= maxRows {
			return nil, errf(ErrUnsupported, "result over %d rows", maxRows)
		}
		r.rows = append(r.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	// Expression columns without a declared type take the type of their
	// first value.
	for i := range r.cols {
		if types[i].DatabaseTypeName() != "" || r.cols[i].attnum != 0 {
			continue
		}
		for _, row := range r.rows {
			if row[i] != nil {
				r.cols[i].oid = oidOfValue(row[i])
				break
			}
		}
	}
	r.tag = fmt.Sprintf("%s %d", tag, len(r.rows))
	return r, nil
}

func oidOfDecl(d string) uint32 {
	d = strings.ToUpper(d)
	switch {
	case strings.Contains(d, "INTERVAL"):
		return oidText
	case strings.Contains(d, "INT"):
		return oidInt8
	case strings.Contains(d, "BLOB") || strings.Contains(d, "BYTEA"):
		return oidBytea
	case strings.Contains(d, "REAL") || strings.Contains(d, "FLOA") || strings.Contains(d, "DOUB"):
		return oidFloat8
	case strings.Contains(d, "NUMERIC") || strings.Contains(d, "DECIMAL"):
		return oidNumeric
	case d == "BOOL":
		return oidBool
	}
	return oidText
}

func oidOfValue(v any) uint32 {
	switch v.(type) {
	case int64:
		return oidInt8
	case float64:
		return oidFloat8
	case []byte:
		return oidBytea
	}
	return oidText
}

// evaluate has the enclave evaluate op over its whole column and returns
// the SQL that replaces the predicate.
func (s *Server) evaluate(ctx context.Context, c *connState, op *enclaveOp, args []any) (string, int64, string, error) {
	c.pgResult = nil
	r, h, err := s.evaluate1(ctx, c, op, args)
	if err != nil || !s.d.postgres || c.pgResult == nil {
		return r, h, "", err
	}
	// PostgreSQL has no aesql_match or aesql_rank: matches become a tid
	// array parameter, ranks a join with an unnested (tid, rank) array.
	res := c.pgResult
	c.pgResult = nil
	qual := op.table.qual(s.d)
	param := func(v string) int {
		c.extra = append(c.extra, v)
		return len(args) + len(c.extra)
	}
	if res.ranks != nil {
		var ids []int64
		var ranks []string
		for i, rk := range res.ranks {
			if rk != 0 {
				ids = append(ids, res.rowids[i])
				ranks = append(ranks, strconv.FormatUint(uint64(rk), 10))
			}
		}
		alias := fmt.Sprintf("aesql_r%d", len(c.extra)+1)
		a := param(intArray(ids))
		b := param("{" + strings.Join(ranks, ",") + "}")
		join := fmt.Sprintf(" LEFT JOIN unnest($%d::bigint[], $%d::bigint[]) AS %s(aesql_id, aesql_v) ON %s.aesql_id = %s.%s", a, b, alias, alias, qual, pgRowID)
		// NULL cells (absent from the arrays) rank 0, first as in SQL
		// Server.
		rank := "COALESCE(" + alias + ".aesql_v, 0)"
		if op.pred.Kind == sqlq.OrderBy && grouped(op.st) {
			// In a grouped query the rank is one value per group.
			return "min(" + rank + ")", 0, join, nil
		}
		return rank, 0, join, nil
	}
	var ids []int64
	for i, id := range res.rowids {
		if res.bitmap[i>>3]&(1<<(i&7)) != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "(1 = 0)", 0, "", nil
	}
	return fmt.Sprintf("(%s.%s = ANY($%d::bigint[]))", qual, pgRowID, param(intArray(ids))), 0, "", nil
}

func (s *Server) evaluate1(ctx context.Context, c *connState, op *enclaveOp, args []any) (string, int64, error) {
	if s.opts.Enclave == nil {
		return "", 0, errf(ErrEnclave, "%s on %s needs the server's enclave, and this server has none", predText(op.pred), op.pred.Col)
	}
	if !c.hasClient {
		return "", 0, errf(ErrEnclave, "%s on %s needs enclave computations: attest the enclave and send the keys first (column_encryption with attestation)", predText(op.pred), op.pred.Col)
	}
	var cells [][]byte
	for _, a := range op.pred.Args {
		b, _ := args[a.N-1].([]byte)
		if b == nil {
			return "", 0, errf(ErrTypeClash, "NULL parameter $%d for %s", a.N, op.pred.Col)
		}
		cells = append(cells, b)
	}
	rankCol := op.table.qual(s.d) + "." + s.d.ident(rankColumn(op.col))
	snap, err := s.snapshotFor(ctx, c, op, false)
	if err != nil {
		return "", 0, err
	}
	if op.ranked && (op.pred.Kind == sqlq.OrderBy || op.pred.Kind == sqlq.GroupBy) {
		// The rank column orders and groups by itself once current.
		if s.d.postgres && op.pred.Kind == sqlq.OrderBy && grouped(op.st) && !op.grouped {
			return "min(" + rankCol + ")", 0, nil
		}
		return rankCol, 0, nil
	}
	var out []byte
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// The enclave dropped the column (it keeps the most recently
			// used ones): load it again.
			if snap, err = s.snapshotFor(ctx, c, op, true); err != nil {
				return "", 0, err
			}
		}
		req := enclproto.EvalRequest{ClientKey: c.client, Query: op.st.Src, Pred: uint32(op.index), Cache: snap.name,
			CEK: op.col.Def.Encryption.ColumnEncryptionKey, Type: op.col.Type, Args: cells}
		out, err = s.opts.Enclave.Call(ctx, enclproto.FnEval, req.Marshal())
		if err == nil {
			break
		}
		if attempt == 0 && strings.Contains(err.Error(), "is not loaded") {
			continue
		}
		return "", 0, enclaveErr(err)
	}
	res, err := enclproto.ParseEvalResult(out)
	if err != nil || int(res.N) != len(snap.rowids) {
		return "", 0, errf(ErrEnclave, "enclave answered %d rows for a column of %d", resN(res), len(snap.rowids))
	}
	if res.Kind == enclproto.ResultRankRanges {
		if !op.ranked {
			return "", 0, errf(ErrEnclave, "enclave answered rank ranges for a column without an index")
		}
		return rankRangesSQL(rankCol, res.Ranges), 0, nil
	}
	rowid := op.table.qual(s.d) + ".rowid"
	if s.d.postgres {
		r := &evalResult{rowids: snap.rowids}
		switch res.Kind {
		case enclproto.ResultRanks:
			r.ranks = res.Ranks
		case enclproto.ResultPositions:
			r.bitmap = make([]byte, (len(snap.rowids)+7)/8)
			for _, p := range res.Ranks {
				r.bitmap[p>>3] |= 1 << (p & 7)
			}
		default:
			r.bitmap = res.Bitmap
		}
		c.pgResult = r
		return "", 0, nil
	}
	if res.Kind == enclproto.ResultRanks {
		h := register(&evalResult{rowids: snap.rowids, ranks: res.Ranks})
		return fmt.Sprintf("aesql_rank(%d, %s)", h, rowid), h, nil
	}
	var pos []uint32
	if res.Kind == enclproto.ResultPositions {
		pos = res.Ranks
	} else {
		count := 0
		for _, b := range res.Bitmap {
			count += bits.OnesCount8(b)
		}
		if count <= sparse && count <= len(snap.rowids)/4 {
			for i, b := range res.Bitmap {
				for b != 0 {
					pos = append(pos, uint32(8*i+bits.TrailingZeros8(b)))
					b &= b - 1
				}
			}
		}
	}
	if res.Kind == enclproto.ResultPositions || pos != nil {
		if len(pos) == 0 {
			return "(0)", 0, nil
		}
		if len(pos) <= sparse && len(pos) <= len(snap.rowids)/4 {
			var b strings.Builder
			b.WriteString("(" + rowid + " IN (")
			for k, p := range pos {
				if k > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(snap.rowids[p], 10))
			}
			b.WriteString("))")
			return b.String(), 0, nil
		}
		res.Bitmap = make([]byte, (len(snap.rowids)+7)/8)
		for _, p := range pos {
			res.Bitmap[p>>3] |= 1 << (p & 7)
		}
	}
	h := register(&evalResult{rowids: snap.rowids, bitmap: res.Bitmap})
	return fmt.Sprintf("aesql_match(%d, %s)", h, rowid), h, nil
}

func resN(r *enclproto.EvalResult) int {
	if r == nil {
		return -1
	}
	return int(r.N)
}

// enclaveErr turns an enclave's error into a server error. The enclave
// never puts plaintext into its messages.
func enclaveErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "sqlenclave: "); i >= 0 {
		msg = msg[i:]
	}
	return errf(ErrEnclave, "%s", msg)
}
