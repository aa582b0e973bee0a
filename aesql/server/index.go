package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/confide-dev/confide/aesql/ddl"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

// An index on a randomized, enclave-enabled column (SQL Server's
// "indexes on enclave-enabled columns using randomized encryption") is
// an index on a hidden rank column the server adds beside it: an
// order-preserving integer that the enclave assigns (equal plaintexts,
// equal ranks; NULL 0). Ranges, equality, ORDER BY and GROUP BY on the
// column then run as plain SQL on the rank column. The ranks reveal the
// order of the column's values to the server, as SQL Server's index
// does; columns without an index keep revealing only what each query
// asks.

// indexInfo is an index the server created on a table of its catalog
// that has a randomized column.
type indexInfo struct {
	Name    string
	Table   string
	Columns []string // as named in CREATE INDEX
}

// rankColumn is the hidden rank column of an indexed randomized column.
func rankColumn(c *colInfo) string { return "aesql_rank_" + strconv.Itoa(c.Ordinal) }

func randomized(c *colInfo) bool {
	return c != nil && c.encrypted() && c.Def.Encryption.Type == ddl.Randomized
}

// markRanked sets Ranked on the randomized columns of t that an index of
// the catalog names. s.mu must be held (or the catalog not yet shared).
func (cat *catalog) markRanked(t *tableInfo) {
	for _, c := range t.Cols {
		c.Ranked = false
	}
	for _, ix := range cat.indexes {
		if !strings.EqualFold(ix.Table, t.Name) {
			continue
		}
		for _, n := range ix.Columns {
			if c := t.col(n); randomized(c) {
				c.Ranked = true
			}
		}
	}
}

// indexStmt is CREATE [UNIQUE] [CLUSTERED | NONCLUSTERED] INDEX
// [IF NOT EXISTS] name ON [schema.]table (column [ASC | DESC], …).
type indexStmt struct {
	name        string
	unique      bool
	ifNotExists bool
	table       string
	cols        []string
	desc        []bool
}

func isName(t sqlq.Token) bool { return t.Kind == sqlq.Ident || t.Kind == sqlq.QIdent }

// qualifiedName reads [schema.]name at t[i].
func qualifiedName(t []sqlq.Token, i int) (string, int, bool) {
	if i >= len(t) || !isName(t[i]) {
		return "", i, false
	}
	if i+2 < len(t) && t[i+1].Kind == sqlq.Op && t[i+1].Text == "." && isName(t[i+2]) {
		return t[i+2].Text, i + 3, true
	}
	return t[i].Text, i + 1, true
}

func trimSemicolons(t []sqlq.Token) []sqlq.Token {
	for len(t) > 0 && t[len(t)-1].Kind == sqlq.Op && t[len(t)-1].Text == ";" {
		t = t[:len(t)-1]
	}
	return t
}

func parseCreateIndex(t []sqlq.Token) (*indexStmt, bool) {
	t = trimSemicolons(t)
	st := &indexStmt{}
	i := 1
	if i < len(t) && t[i].Is("unique") {
		st.unique = true
		i++
	}
	if i < len(t) && (t[i].Is("clustered") || t[i].Is("nonclustered")) {
		i++
	}
	if i >= len(t) || !t[i].Is("index") {
		return nil, false
	}
	i++
	if i+2 < len(t) && t[i].Is("if") && t[i+1].Is("not") && t[i+2].Is("exists") {
		st.ifNotExists = true
		i += 3
	}
	var ok bool
	if st.name, i, ok = qualifiedName(t, i); !ok {
		return nil, false
	}
	if i >= len(t) || !t[i].Is("on") {
		return nil, false
	}
	if st.table, i, ok = qualifiedName(t, i+1); !ok {
		return nil, false
	}
	if i >= len(t) || t[i].Kind != sqlq.Op || t[i].Text != "(" {
		return nil, false
	}
	i++
	for {
		if i >= len(t) || !isName(t[i]) {
			return nil, false
		}
		st.cols = append(st.cols, t[i].Text)
		desc := false
		i++
		if i < len(t) && (t[i].Is("asc") || t[i].Is("desc")) {
			desc = t[i].Is("desc")
			i++
		}
		st.desc = append(st.desc, desc)
		if i < len(t) && t[i].Kind == sqlq.Op && t[i].Text == "," {
			i++
			continue
		}
		if i < len(t) && t[i].Kind == sqlq.Op && t[i].Text == ")" {
			i++
			break
		}
		return nil, false
	}
	return st, i == len(t)
}

// indexDDL handles CREATE INDEX and DROP INDEX statements that concern
// randomized columns; ok is false for the others, which go to the
// storage as they are.
func (s *Server) indexDDL(ctx context.Context, c *connState, t []sqlq.Token) (*result, error, bool) {
	if len(t) < 3 {
		return nil, nil, false
	}
	conn := c.conn
	if t[0].Is("drop") && t[1].Is("index") {
		return s.dropIndex(ctx, c, t)
	}
	if !t[0].Is("create") || !mentions(t, "index") {
		return nil, nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, parsed := parseCreateIndex(t)
	if !parsed {
		// A form the server does not rewrite: refuse it if it names a
		// randomized column of a catalog table it may be on.
		for i := range t {
			if !t[i].Is("on") {
				continue
			}
			name, _, ok := qualifiedName(t, i+1)
			if tb := s.cat.tables[key(name)]; ok && tb != nil {
				for _, x := range t {
					if c := tb.col(x.Text); isName(x) && randomized(c) {
						return nil, errf(ErrUnsupported, "CREATE INDEX on randomized column %s: only CREATE [UNIQUE] [NONCLUSTERED] INDEX name ON table (column [ASC | DESC], …) is supported", c.Name), true
					}
				}
			}
		}
		return nil, nil, false
	}
	tb := s.cat.tables[key(st.table)]
	if tb == nil {
		return nil, nil, false
	}
	var newRanked []*colInfo
	hasRandomized := false
	cols := make([]string, len(st.cols))
	for i, n := range st.cols {
		c := tb.col(n)
		if c == nil {
			return nil, errf(ErrUndefined, "column %q of table %q does not exist", n, tb.Name), true
		}
		cols[i] = s.d.ident(c.Name)
		if !randomized(c) {
			continue
		}
		hasRandomized = true
		if m := s.cmkOf(c); m == nil || !m.Enclave {
			return nil, errf(ErrUnsupported, "cannot create index %s on column %s: it is encrypted with randomized encryption under a column master key without ENCLAVE_COMPUTATIONS (%s)", st.name, c.Name, encDesc(c)), true
		}
		if st.unique {
			return nil, errf(ErrUnsupported, "cannot create unique index %s on randomized column %s", st.name, c.Name), true
		}
		cols[i] = s.d.ident(rankColumn(c))
		if !c.Ranked && !containsCol(newRanked, c) {
			newRanked = append(newRanked, c)
		}
	}
	for i := range cols {
		if st.desc[i] {
			cols[i] += " DESC"
		}
	}
	if !hasRandomized {
		// A plain index (on plaintext or deterministic ciphertext), in
		// the storage's syntax (no CLUSTERED or NONCLUSTERED).
		q := "CREATE "
		if st.unique {
			q += "UNIQUE "
		}
		q += "INDEX "
		if st.ifNotExists {
			q += "IF NOT EXISTS "
		}
		q += fmt.Sprintf("%s ON %s (%s)", s.d.ident(st.name), s.d.ident(tb.Name), strings.Join(cols, ", "))
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, dbError(err), true
		}
		return &result{tag: "CREATE INDEX"}, nil, true
	}
	if s.cat.indexes[key(st.name)] != nil {
		if st.ifNotExists {
			return &result{tag: "CREATE INDEX"}, nil, true
		}
		return nil, errf(ErrSyntax, "index %q already exists", st.name), true
	}
	if c.tx != nil {
		return nil, errInTx("CREATE INDEX on a randomized column"), true
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err), true
	}
	defer tx.Rollback()
	rankType := "INTEGER"
	if s.d.postgres {
		rankType = "BIGINT"
	}
	for _, c := range newRanked {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", s.d.ident(tb.Name), s.d.ident(rankColumn(c)), rankType)); err != nil {
			return nil, dbError(err), true
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE INDEX %s ON %s (%s)", s.d.ident(st.name), s.d.ident(tb.Name), strings.Join(cols, ", "))); err != nil {
		return nil, dbError(err), true
	}
	ix := &indexInfo{Name: st.name, Table: tb.Name, Columns: st.cols}
	names, _ := json.Marshal(ix.Columns)
	if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO aesql_index VALUES (?, ?, ?)`), ix.Name, ix.Table, string(names)); err != nil {
		return nil, dbError(err), true
	}
	if err := tx.Commit(); err != nil {
		return nil, dbError(err), true
	}
	s.cat.indexes[key(ix.Name)] = ix
	s.cat.markRanked(tb)
	// The next load of the table's columns assigns the ranks.
	s.bump(tb.Name)
	return &result{tag: "CREATE INDEX"}, nil, true
}

// errInTx refuses a statement the server applies in a transaction of its
// own inside the client's.
func errInTx(what string) error {
	return errf(ErrUnsupported, "%s inside a transaction: the server applies it in a transaction of its own", what)
}

func containsCol(cs []*colInfo, c *colInfo) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// dropIndex drops an index of the catalog and the rank columns no other
// index needs: DROP INDEX [IF EXISTS] [schema.]name [ON table].
func (s *Server) dropIndex(ctx context.Context, c *connState, t []sqlq.Token) (*result, error, bool) {
	conn := c.conn
	t = trimSemicolons(t)
	i := 2
	if i+1 < len(t) && t[i].Is("if") && t[i+1].Is("exists") {
		i += 2
	}
	name, j, ok := qualifiedName(t, i)
	if !ok {
		return nil, nil, false
	}
	if j < len(t) {
		if _, k, ok := qualifiedName(t, j+1); !t[j].Is("on") || !ok || k != len(t) {
			return nil, nil, false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.cat.indexes[key(name)]
	if ix == nil {
		return nil, nil, false
	}
	tb := s.cat.tables[key(ix.Table)]
	if c.tx != nil {
		return nil, errInTx("DROP INDEX on a randomized column"), true
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err), true
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DROP INDEX "+s.d.ident(ix.Name)); err != nil {
		return nil, dbError(err), true
	}
	if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM aesql_index WHERE name = ?`), ix.Name); err != nil {
		return nil, dbError(err), true
	}
	delete(s.cat.indexes, key(ix.Name))
	var drop []*colInfo
	if tb != nil {
		was := map[*colInfo]bool{}
		for _, c := range tb.Cols {
			was[c] = c.Ranked
		}
		s.cat.markRanked(tb)
		for _, c := range tb.Cols {
			if was[c] && !c.Ranked {
				drop = append(drop, c)
			}
		}
	}
	undo := func() {
		s.cat.indexes[key(ix.Name)] = ix
		if tb != nil {
			s.cat.markRanked(tb)
		}
	}
	for _, c := range drop {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", s.d.ident(tb.Name), s.d.ident(rankColumn(c)))); err != nil {
			undo()
			return nil, dbError(err), true
		}
	}
	if err := tx.Commit(); err != nil {
		undo()
		return nil, dbError(err), true
	}
	if tb != nil {
		s.bump(tb.Name)
	}
	return &result{tag: "DROP INDEX"}, nil, true
}

// storeRanks writes the ranks the enclave assigned into the rank column
// (no change to the cells, so the column's snapshot stays current).
func (s *Server) storeRanks(ctx context.Context, conn *sql.Conn, t *tableInfo, col *colInfo, rowids []int64, us []enclproto.RankUpdate) error {
	if len(us) == 0 {
		return nil
	}
	table, rank := s.d.ident(t.Name), s.d.ident(rankColumn(col))
	if s.d.postgres {
		// One statement per chunk: atomic without a transaction.
		const chunk = 1 << 16
		for lo := 0; lo < len(us); lo += chunk {
			part := us[lo:min(lo+chunk, len(us))]
			ids := make([]int64, len(part))
			var b strings.Builder
			b.WriteByte('{')
			for i, u := range part {
				ids[i] = rowids[u.Pos]
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(u.Rank, 10))
			}
			b.WriteByte('}')
			q := fmt.Sprintf("UPDATE %s SET %s = u.r FROM unnest($1::bigint[], $2::bigint[]) AS u(id, r) WHERE %s.%s = u.id",
				table, rank, table, pgRowID)
			if _, err := conn.ExecContext(ctx, q, intArray(ids), b.String()); err != nil {
				return errf(ErrDatabase, "storing ranks: %v", err)
			}
		}
		return nil
	}
	// A savepoint works inside and outside the client's transaction.
	if _, err := conn.ExecContext(ctx, "SAVEPOINT aesql_ranks"); err != nil {
		return errf(ErrDatabase, "storing ranks: %v", err)
	}
	err := func() error {
		st, err := conn.PrepareContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE rowid = ?", table, rank))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, u := range us {
			if _, err := st.ExecContext(ctx, u.Rank, rowids[u.Pos]); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		conn.ExecContext(ctx, "ROLLBACK TO aesql_ranks")
		conn.ExecContext(ctx, "RELEASE aesql_ranks")
		return errf(ErrDatabase, "storing ranks: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "RELEASE aesql_ranks"); err != nil {
		return errf(ErrDatabase, "storing ranks: %v", err)
	}
	return nil
}

// rankRangesSQL is the condition that selects rows whose rank lies in
// one of ranges.
func rankRangesSQL(col string, ranges [][2]int64) string {
	if len(ranges) == 0 {
		return "(1 = 0)"
	}
	var parts []string
	for _, r := range ranges {
		if r[0] == r[1] {
			parts = append(parts, fmt.Sprintf("%s = %d", col, r[0]))
		} else {
			parts = append(parts, fmt.Sprintf("%s BETWEEN %d AND %d", col, r[0], r[1]))
		}
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}
