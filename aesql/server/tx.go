package server

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

// Isolation of the enclave's column snapshots (spec/aesql.md §5.6).
//
// Every table has a version, a value of the server's sequence. A write
// that may commit changes to a table's cells (an INSERT, UPDATE or DELETE
// outside an explicit transaction, the COMMIT of a transaction that wrote
// the table, an unanalysed statement: all tables) sets the version when
// it starts, counts as in flight until it ends, and sets the version again
// when it ends. A shared snapshot records the version its rows were read
// at and is loaded only when no write is in flight; it is current while
// the version has not moved. A statement that evaluated on shared
// snapshots checks, after its SQL ran, that their versions have not
// moved, so that no write committed between the snapshot's read and the
// statement's: otherwise it runs again, the second time inside a
// transaction of its own on private snapshots, which cannot go stale.
//
// A connection inside an explicit transaction sees its own uncommitted
// writes and, in SQLite (and PostgreSQL's REPEATABLE READ), the data as
// of its transaction's start. It uses the shared snapshot of a table only
// if it has not written the table (nor run a statement the server cannot
// analyse) and nothing was committed to the table since the transaction
// began, rank write-backs included; otherwise it loads private snapshots
// inside its transaction, for itself alone, without ranks, so that it
// writes nothing the transaction did not. Its COMMIT is the write that
// moves the versions of the tables it wrote; its ROLLBACK drops the
// private snapshots and touches nothing shared.

// tableVersion is the version state of one table.
type tableVersion struct {
	// ver changes when the table's cells may have changed.
	ver uint64
	// touched changes with ver and also when ranks are written back.
	touched uint64
	// busy counts the writes in flight.
	busy int
}

// errStale reports that a snapshot a statement used was not the data the
// statement read: the statement runs again.
var errStale = errors.New("server: snapshot changed under the statement")

// maxAttempts bounds the runs of a statement whose snapshots keep going
// stale: inside a PostgreSQL READ COMMITTED transaction, which sees other
// connections' commits between statements, or, outside transactions, a
// write that PostgreSQL refuses to serialise in the server's REPEATABLE
// READ transaction.
const maxAttempts = 3

// versionLocked returns table tk's version and whether no write to it is
// in flight. s.genMu must be held.
func (s *Server) versionLocked(tk string) (ver, touched uint64, quiet bool) {
	ver, touched, busy := s.allVer.ver, s.allVer.ver, s.allVer.busy
	if t := s.vers[tk]; t != nil {
		ver, touched, busy = max(ver, t.ver), max(touched, t.touched), busy+t.busy
	}
	return ver, touched, busy == 0
}

func (s *Server) version(tk string) (ver, touched uint64, quiet bool) {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	return s.versionLocked(tk)
}

func (s *Server) tableVersion(tk string) *tableVersion {
	t := s.vers[tk]
	if t == nil {
		t = &tableVersion{}
		s.vers[tk] = t
	}
	return t
}

// beginWriteLocked marks a write to tables (to every table if all) as in
// flight and returns the function that ends it. s.genMu must be held.
func (s *Server) beginWriteLocked(tables []string, all bool) func() {
	set := func(d int) {
		s.genSeq++
		if all {
			s.allVer.ver, s.allVer.busy = s.genSeq, s.allVer.busy+d
		}
		for _, tk := range tables {
			t := s.tableVersion(tk)
			t.ver, t.touched, t.busy = s.genSeq, s.genSeq, t.busy+d
		}
	}
	set(1)
	return func() {
		s.genMu.Lock()
		defer s.genMu.Unlock()
		set(-1)
	}
}

// beginWrite is beginWriteLocked with the lock taken.
func (s *Server) beginWrite(tables []string, all bool) func() {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	return s.beginWriteLocked(tables, all)
}

// bump marks a table's data as changed (after DDL): its columns are
// loaded again before the enclave next evaluates them.
func (s *Server) bump(table string) {
	s.beginWrite([]string{key(table)}, false)()
}

// touch records that the table's rank column was written.
func (s *Server) touch(tk string) {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.genSeq++
	s.tableVersion(tk).touched = s.genSeq
}

// freshLocked reports whether the snapshots c's statement used still
// hold the data it read: every shared snapshot (and, in PostgreSQL, whose
// transactions see others' commits between statements, every private
// one outside a transaction the server opened) was loaded with no write
// in flight and its table's version has not moved. s.genMu must be held.
func (s *Server) freshLocked(c *connState) bool {
	for _, sn := range c.used {
		if !s.checked(c, sn) {
			continue
		}
		if v, _, _ := s.versionLocked(sn.table); !sn.quiet || v != sn.ver {
			return false
		}
	}
	return true
}

func (s *Server) fresh(c *connState) bool {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	return s.freshLocked(c)
}

// checked reports whether sn needs the check of freshLocked: shared
// snapshots do, and private ones loaded in a PostgreSQL transaction whose
// statements each see the latest commits (READ COMMITTED).
func (s *Server) checked(c *connState, sn *snapshot) bool {
	return !sn.private || c.tx != nil && c.tx.perStatement
}

// needsCheck reports whether any snapshot c's statement used needs it.
func (s *Server) needsCheck(c *connState) bool {
	for _, sn := range c.used {
		if s.checked(c, sn) {
			return true
		}
	}
	return false
}

// txState is an explicit transaction of a connection.
type txState struct {
	// start is the server's sequence when the transaction began.
	start uint64
	// mark numbers the transaction's writes; writes maps the tables
	// written to the mark of the last write, all is the mark of the last
	// unanalysed statement (0: none).
	mark   uint64
	writes map[string]uint64
	all    uint64
	// private holds the transaction's own snapshots by column.
	private map[string]*snapshot
	// savepoints are the open savepoints' names when a SAVEPOINT began
	// the transaction (SQLite), whose RELEASE then commits it.
	bySavepoint bool
	savepoints  []string
	// perStatement: each statement sees the latest commits (PostgreSQL's
	// READ COMMITTED), known once isolationKnown.
	perStatement   bool
	isolationKnown bool
}

func (s *Server) newTx() *txState {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	return &txState{start: s.genSeq, writes: map[string]uint64{}, private: map[string]*snapshot{}}
}

// own returns the mark of the transaction's last write to table tk (0:
// none).
func (tx *txState) own(tk string) uint64 {
	return max(tx.writes[tk], tx.all)
}

// wrote records a write to tables (every table if all).
func (tx *txState) wrote(tables []string, all bool) {
	tx.mark++
	if all {
		tx.all = tx.mark
	}
	for _, tk := range tables {
		tx.writes[tk] = tx.mark
	}
}

// written returns the tables the transaction wrote and whether it ran
// unanalysed statements.
func (tx *txState) written() ([]string, bool) {
	var ts []string
	for tk := range tx.writes {
		ts = append(ts, tk)
	}
	return ts, tx.all != 0
}

// txKind classifies transaction control statements.
type txKind int

const (
	txNone       txKind = iota
	txBegin             // BEGIN, START TRANSACTION
	txCommit            // COMMIT, END
	txRollback          // ROLLBACK, ABORT
	txSavepoint         // SAVEPOINT name
	txRelease           // RELEASE [SAVEPOINT] name
	txRollbackTo        // ROLLBACK [TRANSACTION | WORK] TO [SAVEPOINT] name
	txPrepare           // PREPARE TRANSACTION 'id' (PostgreSQL)
)

// txControl is a transaction control statement.
type txControl struct {
	kind txKind
	// name is the savepoint's.
	name string
	// chain: COMMIT or ROLLBACK AND CHAIN begins the next transaction.
	chain bool
}

// parseTxControl recognises transaction control statements. COMMIT
// PREPARED and ROLLBACK PREPARED, which end another session's prepared
// transaction, are not: they are statements that may write anything.
func parseTxControl(t []sqlq.Token) txControl {
	t = trimSemicolons(t)
	if len(t) == 0 {
		return txControl{}
	}
	has := func(w string) bool { return mentions(t, w) }
	name := func(i int) string {
		if i < len(t) && t[i].Is("savepoint") {
			i++
		}
		if i+1 == len(t) && isName(t[i]) {
			return t[i].Text
		}
		return ""
	}
	switch {
	case t[0].Is("begin"), t[0].Is("start") && len(t) > 1 && t[1].Is("transaction"):
		return txControl{kind: txBegin}
	case t[0].Is("commit") || t[0].Is("end"):
		if has("prepared") {
			return txControl{}
		}
		return txControl{kind: txCommit, chain: chained(t)}
	case t[0].Is("rollback") || t[0].Is("abort"):
		if has("prepared") {
			return txControl{}
		}
		for i, x := range t {
			if x.Is("to") {
				if n := name(i + 1); n != "" {
					return txControl{kind: txRollbackTo, name: n}
				}
				return txControl{}
			}
		}
		return txControl{kind: txRollback, chain: chained(t)}
	case t[0].Is("savepoint"):
		if n := name(1); n != "" {
			return txControl{kind: txSavepoint, name: n}
		}
	case t[0].Is("release"):
		if n := name(1); n != "" {
			return txControl{kind: txRelease, name: n}
		}
	case t[0].Is("prepare") && len(t) > 1 && t[1].Is("transaction"):
		return txControl{kind: txPrepare}
	}
	return txControl{}
}

// chained reports AND CHAIN (not AND NO CHAIN) at the end of t.
func chained(t []sqlq.Token) bool {
	n := len(t)
	return n >= 2 && t[n-1].Is("chain") && t[n-2].Is("and")
}

// lastSavepoint returns the index of the newest open savepoint named
// name, or -1.
func (tx *txState) lastSavepoint(name string) int {
	for i := len(tx.savepoints) - 1; i >= 0; i-- {
		if strings.EqualFold(tx.savepoints[i], name) {
			return i
		}
	}
	return -1
}

// txStatement runs a transaction control statement and keeps c's
// transaction state in step with the storage's.
func (s *Server) txStatement(ctx context.Context, c *connState, query string, toks []sqlq.Token, ctl txControl) (*result, error) {
	exec := func() error {
		if _, err := c.conn.ExecContext(ctx, query); err != nil {
			return dbError(err)
		}
		return nil
	}
	res := &result{tag: commandTag(toks, 0)}
	// commit publishes the transaction's writes: they count as in flight
	// until the storage's COMMIT returns.
	commit := func() error {
		tables, all := c.tx.written()
		done := s.beginWrite(tables, all)
		err := exec()
		done()
		return err
	}
	var err error
	switch ctl.kind {
	case txBegin:
		if err = exec(); err == nil && c.tx == nil {
			c.tx = s.newTx()
		}
	case txCommit, txRollback:
		if c.tx == nil {
			err = exec()
		} else {
			prev := c.tx
			if ctl.kind == txCommit {
				err = commit()
			} else {
				err = exec()
			}
			c.tx = nil
			if err != nil && !s.d.postgres && s.inTransaction(ctx, c) {
				// SQLite keeps the transaction when COMMIT fails busy.
				c.tx = prev
			}
		}
		if err == nil && ctl.chain {
			c.tx = s.newTx()
		}
	case txSavepoint:
		if err = exec(); err == nil {
			if c.tx == nil {
				c.tx = s.newTx()
				c.tx.bySavepoint = true
			}
			c.tx.savepoints = append(c.tx.savepoints, ctl.name)
		}
	case txRelease:
		i := -1
		if c.tx != nil {
			i = c.tx.lastSavepoint(ctl.name)
		}
		if i == 0 && c.tx.bySavepoint {
			// Releasing the savepoint that began the transaction commits
			// it.
			if err = commit(); err == nil {
				c.tx = nil
			}
		} else if err = exec(); err == nil && i > 0 {
			c.tx.savepoints = c.tx.savepoints[:i]
		}
	case txRollbackTo:
		if err = exec(); err == nil && c.tx != nil {
			if i := c.tx.lastSavepoint(ctl.name); i >= 0 {
				c.tx.savepoints = c.tx.savepoints[:i+1]
			}
			// Writes since the savepoint are undone: the private
			// snapshots may hold them.
			clear(c.tx.private)
		}
	case txPrepare:
		// The prepared transaction's writes become visible with COMMIT
		// PREPARED, which counts as a write to every table.
		if err = exec(); err == nil {
			c.tx = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// learnIsolation finds out whether c's PostgreSQL transaction sees the
// latest commits in each statement (READ COMMITTED) or one snapshot
// (REPEATABLE READ, SERIALIZABLE). SQLite transactions read one snapshot.
func (s *Server) learnIsolation(ctx context.Context, c *connState) error {
	if c.tx.isolationKnown {
		return nil
	}
	if s.d.postgres {
		var level string
		if err := c.conn.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&level); err != nil {
			return dbError(err)
		}
		c.tx.perStatement = level != "repeatable read" && level != "serializable"
	}
	c.tx.isolationKnown = true
	return nil
}

// serializationFailure reports PostgreSQL's SQLSTATE 40001.
func serializationFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40001"
}

// inTransaction asks SQLite whether c's connection is inside a
// transaction (some errors end one): BEGIN fails inside one.
func (s *Server) inTransaction(ctx context.Context, c *connState) bool {
	if _, err := c.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return true
	}
	c.conn.ExecContext(ctx, "ROLLBACK")
	return false
}
