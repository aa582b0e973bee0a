package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/confide-dev/confide/internal/hashchain"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// migrations are applied in order; the migrations table records each
// applied version so a restart applies only the new ones.
var migrations = []string{
	// 1: initial schema.
	`CREATE TABLE nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
	CREATE TABLE policies (type TEXT PRIMARY KEY, text TEXT NOT NULL, updated_at INTEGER NOT NULL);
	CREATE TABLE keys (name TEXT NOT NULL, version TEXT NOT NULL, kty TEXT NOT NULL, created INTEGER NOT NULL,
		policy_type TEXT NOT NULL, policy BLOB NOT NULL, public BLOB, material BLOB NOT NULL, PRIMARY KEY (name, version));
	CREATE TABLE secrets (name TEXT NOT NULL, version TEXT NOT NULL, created INTEGER NOT NULL,
		policy_type TEXT NOT NULL, policy BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (name, version));
	CREATE TABLE config (name TEXT PRIMARY KEY, value BLOB NOT NULL);
	CREATE TABLE audit (seq INTEGER PRIMARY KEY, prev BLOB NOT NULL, hash BLOB NOT NULL, payload BLOB NOT NULL);`,
}

// store is the service's database.
type store struct {
	db *sql.DB
	pg bool

	// stmts holds prepared statements by query text (SQLite only: the
	// PostgreSQL driver caches statements itself).
	stmts sync.Map

	// Group commit: concurrent tx calls are run by one goroutine in one
	// database transaction, each inside its own savepoint, and committed
	// together, so one fsync serves many requests.
	jobs    chan *txJob
	stop    chan struct{}
	stopped chan struct{}
}

// txJob is one tx call waiting for the group committer.
type txJob struct {
	ctx  context.Context
	fn   func(*sqlTx) error
	done chan error
}

// maxGroup bounds the calls committed in one transaction; it is also how
// many calls may wait for the committer without blocking their callers.
const maxGroup = 64

// maxIdleConns is how many idle database connections are kept.
const maxIdleConns = 16

// errStoreClosed is returned to calls made after Close.
var errStoreClosed = errors.New("service: store closed")

// sqliteDSN returns the DSN for the database file in dir: WAL journal, a
// busy timeout so replicas and concurrent requests wait rather than fail,
// full synchronous commits, and BEGIN IMMEDIATE so every transaction takes
// the write lock up front (which serializes audit appends).
func sqliteDSN(dir string) string {
	return "file:" + filepath.Join(dir, "confide.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate"
}

// openStore opens PostgreSQL when dbURL is set, else the SQLite file in dir.
func openStore(ctx context.Context, dir, dbURL string) (*store, error) {
	var s *store
	if dbURL != "" {
		if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
			return nil, fmt.Errorf("service: database URL must start with postgres://")
		}
		s = &store{db: openPostgres(dbURL), pg: true}
	} else {
		db, err := sql.Open("sqlite", sqliteDSN(dir))
		if err != nil {
			return nil, fmt.Errorf("service: open database: %w", err)
		}
		s = &store{db: db}
	}
	db := s.db
	// Keep connections (and the statements prepared on them) across
	// bursts: database/sql's default of 2 idle connections would close and
	// reopen connections whenever more than 2 requests read at once.
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s.jobs, s.stop, s.stopped = make(chan *txJob, maxGroup), make(chan struct{}), make(chan struct{})
	go s.committer()
	return s, nil
}

func (s *store) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
	}
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// prepared returns the prepared statement for q, preparing it on first
// use, or nil when statements are not prepared here (PostgreSQL, whose
// driver keeps its own cache) or q does not prepare (the caller then runs q
// directly and gets the error from there).
func (s *store) prepared(ctx context.Context, q string) *sql.Stmt {
	if s.pg {
		return nil
	}
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if v, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	return st
}

// queryRow runs a query outside any transaction, prepared once.
func (s *store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

func (s *store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sqlTx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM migrations`).Scan(&have); err != nil {
			return err
		}
		for v := have + 1; v <= len(migrations); v++ {
			stmts := []string{migrations[v-1]}
			if s.pg {
				stmts = pgSchema(migrations[v-1])
			}
			for _, m := range stmts {
				if _, err := tx.ExecContext(ctx, m); err != nil {
					return fmt.Errorf("service: migration %d: %w", v, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().Unix()); err != nil {
				return err
			}
		}
		return nil
	})
}

// tx runs fn in a transaction: fn's writes are committed, durably, before
// tx returns nil, and none of them are if fn fails. Once the store is open,
// calls are grouped (see committer).
func (s *store) tx(ctx context.Context, fn func(*sqlTx) error) error {
	return s.txStart(ctx, fn)()
}

// txStart is tx in two halves: it hands fn to the committer and returns at
// once, so the caller can work while the group commits; wait blocks until
// fn's transaction has committed or failed and returns what tx would.
func (s *store) txStart(ctx context.Context, fn func(*sqlTx) error) (wait func() error) {
	if s.jobs == nil {
		err := s.txAlone(ctx, fn)
		return func() error { return err }
	}
	j := &txJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-s.stop:
		return func() error { return errStoreClosed }
	case <-ctx.Done():
		err := ctx.Err()
		return func() error { return err }
	}
	return func() error {
		select {
		case err := <-j.done:
			return err
		case <-s.stopped:
			// The committer answers every call it took before it stops;
			// one still queued was never taken.
			select {
			case err := <-j.done:
				return err
			default:
				return errStoreClosed
			}
		}
	}
}

// committer runs waiting tx calls in groups: one transaction per group,
// each call inside its own savepoint (a failing call is rolled back to it
// and alone gets its error), one commit for all. If the commit fails, every
// call of the group gets the error and none of their writes stays.
func (s *store) committer() {
	defer close(s.stopped)
	for {
		var group []*txJob
		select {
		case j := <-s.jobs:
			group = append(group, j)
		case <-s.stop:
			return
		}
	fill:
		for len(group) < maxGroup {
			select {
			case j := <-s.jobs:
				group = append(group, j)
			default:
				break fill
			}
		}
		s.runGroup(group)
	}
}

// runGroup commits one group. Calls whose context ended before the group
// started are answered with its error and not run; the others run to
// completion (their statements are not interrupted), since they share one
// transaction. A group of one needs no savepoint: the transaction is the
// call's own.
func (s *store) runGroup(group []*txJob) {
	run := group[:0:0]
	for _, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		run = append(run, j)
	}
	if len(run) == 0 {
		return
	}
	ctx := context.Background()
	errs := make([]error, len(run))
	err := s.txAlone(ctx, func(tx *sqlTx) error {
		if len(run) == 1 {
			errs[0] = runJob(run[0], tx)
			return errs[0]
		}
		for i, j := range run {
			if _, err := tx.exec(ctx, "SAVEPOINT g"); err != nil {
				return err
			}
			head := tx.head
			errs[i] = runJob(j, tx)
			if errs[i] != nil {
				tx.head = head
				if _, err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT g"); err != nil {
					return err
				}
			}
			if _, err := tx.exec(ctx, "RELEASE SAVEPOINT g"); err != nil {
				return err
			}
		}
		return nil
	})
	for i, j := range run {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
}

// runJob runs one call's function, turning a panic into its error.
func runJob(j *txJob, tx *sqlTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("service: transaction panicked: %v", r)
		}
	}()
	return j.fn(tx)
}

// txAlone runs fn in a transaction of its own.
func (s *store) txAlone(ctx context.Context, fn func(*sqlTx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("service: begin: %w", err)
	}
	if err := fn(&sqlTx{Tx: tx, st: s}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("service: commit: %w", err)
	}
	return nil
}

// sqlTx is the transaction handlers write in: the database/sql transaction
// and what the store remembers for it.
type sqlTx struct {
	*sql.Tx
	st *store
	// head is the audit chain's last record as this transaction sees it,
	// once read: the transaction holds the write lock, so no one else can
	// append meanwhile.
	head chainHead
}

type chainHead struct {
	known bool
	last  *hashchain.Record // nil: the log is empty
}

// exec runs a statement in the transaction, prepared once per connection.
// The statement is not interrupted when ctx is canceled (see runGroup).
func (t *sqlTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if st := t.st.prepared(ctx, q); st != nil {
		return t.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.ExecContext(ctx, q, args...)
}

// queryRow is exec for a query returning at most one row.
func (t *sqlTx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if st := t.st.prepared(ctx, q); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.QueryRowContext(ctx, q, args...)
}

// AuditEvent is one audit log entry's payload.
type AuditEvent struct {
	// Time is when the service decided, in RFC 3339 UTC.
	Time string `json:"time"`
	// Action is "attest", "release-key", "release-secret", "put-key",
	// "put-secret", "put-policy" or "reset-policy".
	Action string `json:"action"`
	// Subject names what was acted on (attestation type, key or secret name).
	Subject string `json:"subject"`
	// Granted reports whether the action succeeded.
	Granted bool `json:"granted"`
	// Reasons are why it was refused (every failed rule), empty when granted.
	Reasons []string `json:"reasons,omitempty"`
	// Detail carries extra facts (token jti, key version, client address).
	Detail map[string]string `json:"detail,omitempty"`
}

// appendAudit appends ev to the hash chain inside tx. The transaction holds
// the database write lock (BEGIN IMMEDIATE), so appends from concurrent
// requests and replicas are serialized and the chain stays linear.
func appendAudit(ctx context.Context, tx *sqlTx, ev AuditEvent) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if !tx.head.known {
		var seq int64
		var hash []byte
		err = tx.queryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			tx.head = chainHead{known: true}
		case err != nil:
			return fmt.Errorf("service: audit: %w", err)
		default:
			last := &hashchain.Record{Seq: uint64(seq)}
			copy(last.Hash[:], hash)
			tx.head = chainHead{known: true, last: last}
		}
	}
	r := hashchain.Next(tx.head.last, payload)
	_, err = tx.exec(ctx, `INSERT INTO audit (seq, prev, hash, payload) VALUES (?, ?, ?, ?)`,
		int64(r.Seq), r.Prev[:], r.Hash[:], r.Payload)
	if err != nil {
		return fmt.Errorf("service: audit: %w", err)
	}
	tx.head.last = &hashchain.Record{Seq: r.Seq, Hash: r.Hash}
	return nil
}

// readAudit returns the whole audit log in sequence order.
func (s *store) readAudit(ctx context.Context) ([]hashchain.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, prev, hash, payload FROM audit ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("service: audit: %w", err)
	}
	defer rows.Close()
	var out []hashchain.Record
	for rows.Next() {
		var seq int64
		var prev, hash, payload []byte
		if err := rows.Scan(&seq, &prev, &hash, &payload); err != nil {
			return nil, fmt.Errorf("service: audit: %w", err)
		}
		r := hashchain.Record{Seq: uint64(seq), Payload: payload}
		copy(r.Prev[:], prev)
		copy(r.Hash[:], hash)
		if len(prev) != hashchain.Size || len(hash) != hashchain.Size {
			r.Hash[0] ^= 0xff // a truncated hash can never verify
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AuditReport is the result of VerifyAudit.
type AuditReport struct {
	// Records is how many records the log holds.
	Records int `json:"records"`
	// Events are the decoded payloads, in order.
	Events []AuditEvent `json:"-"`
}

// VerifyAudit opens the database in dataDir (it writes nothing but pending
// migrations) and checks the audit hash chain.
// A broken chain returns a *hashchain.BreakError naming the first bad record.
//
// dbURL, when set, names a PostgreSQL database instead.
func VerifyAudit(ctx context.Context, dataDir, dbURL string) (*AuditReport, error) {
	st, err := openStore(ctx, dataDir, dbURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.verifyAudit(ctx)
}

func (s *store) verifyAudit(ctx context.Context) (*AuditReport, error) {
	recs, err := s.readAudit(ctx)
	if err != nil {
		return nil, err
	}
	if err := hashchain.Verify(recs); err != nil {
		return &AuditReport{Records: len(recs)}, err
	}
	rep := &AuditReport{Records: len(recs)}
	for _, r := range recs {
		var ev AuditEvent
		if err := json.Unmarshal(r.Payload, &ev); err != nil {
			return rep, fmt.Errorf("service: audit record %d: %w", r.Seq, err)
		}
		rep.Events = append(rep.Events, ev)
	}
	return rep, nil
}
