package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/server/servertest"
)

// TestTransactions: connection A writes encrypted cells in an explicit
// transaction while connection B queries; A's queries see A's writes, B's
// only what is committed, whichever of them loads the column first, and
// after COMMIT everyone sees them, after ROLLBACK nobody (spec/aesql.md
// §5.6).
func TestTransactions(t *testing.T) {
	for _, c := range []struct {
		name    string
		indexed bool
		commit  bool
	}{
		{"commit", false, true},
		{"rollback", false, false},
		{"indexed commit", true, true},
		{"indexed rollback", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			transactions(t, servertest.Options{Path: filepath.Join(t.TempDir(), "db")}, c.indexed, c.commit)
		})
	}
}

// TestTransactionsPostgres runs TestTransactions with the data in
// PostgreSQL (CONFIDE_TEST_POSTGRES).
func TestTransactionsPostgres(t *testing.T) {
	dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("CONFIDE_TEST_POSTGRES is not set (scripts/test starts PostgreSQL with scripts/postgres.sh)")
	}
	for _, c := range []struct {
		name    string
		indexed bool
		commit  bool
	}{
		{"commit", false, true},
		{"rollback", false, false},
		{"indexed commit", true, true},
		{"indexed rollback", true, false},
	} {
		t.Run(c.name, func(t *testing.T) { transactions(t, servertest.Options{Postgres: dsn}, c.indexed, c.commit) })
	}
}

// TestSavepoints: ROLLBACK TO undoes the writes since a savepoint for the
// connection's own queries too, and in SQLite a SAVEPOINT outside a
// transaction begins one, which the RELEASE of that savepoint commits.
func TestSavepoints(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { savepoints(t, servertest.Options{Path: filepath.Join(t.TempDir(), "db")}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("CONFIDE_TEST_POSTGRES is not set")
		}
		savepoints(t, servertest.Options{Postgres: dsn})
	})
}

// TestRanksAfterBegin: a transaction whose snapshot of the data predates
// the ranks another connection's load wrote back must not rely on the
// rank column for them.
func TestRanksAfterBegin(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		ranksAfterBegin(t, servertest.Options{Path: filepath.Join(t.TempDir(), "db")}, "BEGIN")
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("CONFIDE_TEST_POSTGRES is not set")
		}
		ranksAfterBegin(t, servertest.Options{Postgres: dsn}, "BEGIN ISOLATION LEVEL REPEATABLE READ")
	})
}

func ranksAfterBegin(t *testing.T, o servertest.Options, begin string) {
	ctx := context.Background()
	w := setupIndexed(t, 30, o)
	m := salaryModel{rows: map[int64]*int64{}}
	for _, p := range w.ps {
		m.rows[p.id] = ptr(p.salary)
	}
	m.checkOn(t, w.enc, w.ps[3].salary) // ranks every row
	// New values, without ranks until the column's next load.
	if _, err := w.enc.Exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3), ($4, $5, $6)`,
		1001, "111-11-1111", 123456, 1002, "111-11-1112", -7); err != nil {
		t.Fatal(err)
	}
	m.rows[1001], m.rows[1002] = ptr(123456), ptr(-7)
	conn, err := w.enc.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	// The transaction reads: its snapshot of the data starts here.
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM Patients`).Scan(&n); err != nil || n != len(m.rows) {
		t.Fatalf("count = %d, %v; want %d", n, err, len(m.rows))
	}
	m.checkOn(t, w.enc, 123456) // loads the column and writes the new rows' ranks
	m.checkOn(t, connQuerier{conn}, 123456)
	m.ranked = true
	m.checkOn(t, w.enc, -7)
}

// connQuerier queries through one connection.
type connQuerier struct{ *sql.Conn }

func (c connQuerier) Query(q string, args ...any) (*sql.Rows, error) {
	return c.QueryContext(context.Background(), q, args...)
}

func savepoints(t *testing.T, o servertest.Options) {
	w := setupWith(t, 20, o)
	committed := salaryModel{rows: map[int64]*int64{}}
	for _, p := range w.ps {
		committed.rows[p.id] = ptr(p.salary)
	}
	committed.checkOn(t, w.enc, 777777)
	conn, err := w.enc.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := connQuerier{conn}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// SQLite: the savepoint begins the transaction; PostgreSQL wants
	// BEGIN first.
	if o.Postgres != "" {
		exec(`BEGIN`)
	}
	exec(`SAVEPOINT a`)
	exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, 777777, w.ps[0].id)
	mine := committed.clone()
	mine.rows[w.ps[0].id] = ptr(777777)
	mine.checkOn(t, a, 777777)
	committed.checkOn(t, w.enc, 777777)
	exec(`SAVEPOINT b`)
	exec(`UPDATE Patients SET Salary = $1 WHERE Salary = $2`, 888888, 777777)
	undone := mine.clone()
	undone.rows[w.ps[0].id] = ptr(888888)
	undone.checkOn(t, a, 888888)
	exec(`ROLLBACK TO SAVEPOINT b`)
	mine.checkOn(t, a, 888888)
	committed.checkOn(t, w.enc, 777777)
	exec(`RELEASE a`)
	if o.Postgres != "" {
		committed.checkOn(t, w.enc, 777777)
		exec(`COMMIT`)
	}
	mine.checkOn(t, w.enc, 777777)
	mine.checkOn(t, a, 888888)
}

func (m salaryModel) clone() salaryModel {
	return salaryModel{rows: maps.Clone(m.rows), ranked: m.ranked}
}

func transactions(t *testing.T, o servertest.Options, indexed, commit bool) {
	var w *world
	if indexed {
		w = setupIndexed(t, 60, o)
	} else {
		w = setupWith(t, 60, o)
	}
	committed := salaryModel{rows: map[int64]*int64{}}
	for _, p := range w.ps {
		committed.rows[p.id] = ptr(p.salary)
	}
	probe, gone := w.ps[3].salary, w.ps[5].salary
	if gone == probe {
		t.Fatalf("patients 3 and 5 have the same salary %d", probe)
	}
	// B's queries load the column (and rank it) before A begins.
	committed.checkOn(t, w.enc, probe)

	a, err := w.enc.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := a.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mine := committed.clone()
	exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3), ($4, $5, $6)`,
		1001, "111-11-1111", 123456, 1002, "111-11-1112", 10_000_000)
	mine.rows[1001], mine.rows[1002] = ptr(123456), ptr(10_000_000)
	// A first, then B.
	mine.checkOn(t, a, 123456)
	committed.checkOn(t, w.enc, 123456)

	// UPDATE by a plaintext and by an enclave predicate, DELETE by an
	// enclave predicate.
	exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, 654321, w.ps[0].id)
	mine.rows[w.ps[0].id] = ptr(654321)
	exec(`UPDATE Patients SET Salary = $1 WHERE Salary = $2`, 777777, probe)
	exec(`DELETE FROM Patients WHERE Salary BETWEEN $1 AND $2`, gone-500, gone+500)
	for id, s := range mine.rows {
		switch {
		case s == nil:
		case *s == probe:
			mine.rows[id] = ptr(777777)
		case *s >= gone-500 && *s <= gone+500:
			delete(mine.rows, id)
		}
	}
	// B first, then A, then both again.
	committed.checkOn(t, w.enc, 777777)
	mine.checkOn(t, a, 777777)
	committed.checkOn(t, w.enc, probe)
	mine.checkOn(t, a, probe)
	committed.checkOn(t, w.enc, gone)
	mine.checkOn(t, a, gone)
	// A writes again and queries first: B still sees none of it.
	exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, 888888, w.ps[1].id)
	mine.rows[w.ps[1].id] = ptr(888888)
	mine.checkOn(t, a, 888888)
	committed.checkOn(t, w.enc, 888888)
	// A statement the server does not analyse: A's snapshots of every
	// table are its own from now on.
	exec(`WITH x AS (SELECT 1) DELETE FROM Patients WHERE PatientId = $1`, w.ps[2].id)
	delete(mine.rows, w.ps[2].id)
	mine.checkOn(t, a, probe)
	committed.checkOn(t, w.enc, probe)

	final := committed
	if commit {
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		final = mine
	} else if err := a.Rollback(); err != nil {
		t.Fatal(err)
	}
	final.ranked = indexed
	for _, p := range []int64{777777, 888888, probe, gone, 123456} {
		final.checkOn(t, w.enc, p)
	}
	// A fresh connection agrees.
	fresh, err := sql.Open(driver.Name, w.f.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	final.checkOn(t, fresh, 777777)
}

// TestSnapshotRaces: a writer keeps changing Salary outside any
// transaction while readers query it; every row a reader gets must
// satisfy its predicate and ORDER BY must order the values it returns,
// which fails when an enclave snapshot older than the rows the query
// read is used.
func TestSnapshotRaces(t *testing.T) {
	for _, c := range []struct {
		name string
		o    func(t *testing.T) servertest.Options
	}{
		{"enclave process", func(t *testing.T) servertest.Options {
			return servertest.Options{Path: filepath.Join(t.TempDir(), "db")}
		}},
		{"engine in process", func(t *testing.T) servertest.Options {
			return servertest.Options{Path: filepath.Join(t.TempDir(), "db"), InProcess: true}
		}},
		{"postgres", func(t *testing.T) servertest.Options {
			dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
			if dsn == "" {
				t.Skip("CONFIDE_TEST_POSTGRES is not set")
			}
			return servertest.Options{Postgres: dsn}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { snapshotRaces(t, c.o(t)) })
	}
}

func snapshotRaces(t *testing.T, o servertest.Options) {
	w := setupWith(t, 30, o)
	w.enc.SetMaxOpenConns(8)
	const rounds = 150
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds {
			// Patients 1–4 take turns at salary 1.
			for j := range 4 {
				v := int64(500_000 + j)
				if j == i%4 {
					v = 1
				}
				if _, err := w.enc.Exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, v, w.ps[j].id); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				var q string
				if g == 0 {
					q = `SELECT PatientId, Salary FROM Patients ORDER BY Salary, PatientId`
				} else {
					q = `SELECT PatientId, Salary FROM Patients WHERE Salary = $1`
				}
				var args []any
				if g != 0 {
					args = []any{1}
				}
				rows, err := w.enc.Query(q, args...)
				if err != nil {
					errs <- err
					return
				}
				err = func() error {
					defer rows.Close()
					last := int64(-1)
					for rows.Next() {
						var id, s int64
						if err := rows.Scan(&id, &s); err != nil {
							return err
						}
						if g != 0 && s != 1 {
							return fmt.Errorf("WHERE Salary = 1 returned patient %d with salary %d", id, s)
						}
						if g == 0 && s < last {
							return fmt.Errorf("ORDER BY Salary returned salary %d after %d", s, last)
						}
						last = s
					}
					return rows.Err()
				}()
				if err != nil {
					// One error per goroutine.
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWriteRaces: one of patients 1–4 holds a token, salary 1 or 2.
// Writer A flips its value with an enclave predicate outside any
// transaction (UPDATE … WHERE Salary = $2); writer B moves it to the next
// patient in a transaction; readers check that exactly one row holds it.
// An UPDATE evaluated on a snapshot older than the rows it changes makes
// two.
func TestWriteRaces(t *testing.T) {
	for _, c := range []struct {
		name string
		o    func(t *testing.T) servertest.Options
	}{
		{"engine in process", func(t *testing.T) servertest.Options {
			return servertest.Options{Path: filepath.Join(t.TempDir(), "db"), InProcess: true}
		}},
		{"postgres", func(t *testing.T) servertest.Options {
			dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
			if dsn == "" {
				t.Skip("CONFIDE_TEST_POSTGRES is not set")
			}
			return servertest.Options{Postgres: dsn, InProcess: true}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { writeRaces(t, c.o(t)) })
	}
}

func writeRaces(t *testing.T, o servertest.Options) {
	w := setupWith(t, 10, o)
	for i, p := range w.ps {
		v := int64(500_000 + i)
		if i == 0 {
			v = 1
		}
		if _, err := w.enc.Exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, v, p.id); err != nil {
			t.Fatal(err)
		}
	}
	w.enc.SetMaxOpenConns(8)
	ctx := context.Background()
	const rounds = 60
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	holders := func(q querier) ([]int64, error) {
		rows, err := q.Query(`SELECT PatientId, Salary FROM Patients WHERE Salary IN ($1, $2)`, 1, 2)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var id, s int64
			if err := rows.Scan(&id, &s); err != nil {
				return nil, err
			}
			if s != 1 && s != 2 {
				return nil, fmt.Errorf("WHERE Salary IN (1, 2) returned patient %d with salary %d", id, s)
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
	wg.Add(3)
	go func() { // A
		defer wg.Done()
		// The server retries a statement whose snapshots went stale and
		// then answers 40001; like any client, A runs it again.
		retries := 0
		for i := 0; i < 2*rounds; i++ {
			from, to := int64(1+i%2), int64(2-i%2)
			_, err := w.enc.Exec(`UPDATE Patients SET Salary = $1 WHERE Salary = $2`, to, from)
			if pgCode(err) == "40001" && retries < 100*rounds {
				retries++
				i--
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("A: %w", err)
				return
			}
		}
	}()
	go func() { // B
		defer wg.Done()
		conn, err := w.enc.Conn(ctx)
		if err != nil {
			errs <- err
			return
		}
		defer conn.Close()
		// SQLite: take the write lock first; PostgreSQL: one snapshot, and
		// a concurrent update of the token's row fails the transaction,
		// which B then runs again.
		begin := "BEGIN IMMEDIATE"
		if o.Postgres != "" {
			begin = "BEGIN ISOLATION LEVEL REPEATABLE READ"
		}
		retries := 0
		for i := 0; i < rounds; i++ {
			err := func() error {
				if _, err := conn.ExecContext(ctx, begin); err != nil {
					return err
				}
				defer conn.ExecContext(ctx, "ROLLBACK")
				rows, err := conn.QueryContext(ctx, `SELECT PatientId FROM Patients WHERE Salary IN ($1, $2)`, 1, 2)
				if err != nil {
					return err
				}
				var ids []int64
				for rows.Next() {
					var id int64
					rows.Scan(&id)
					ids = append(ids, id)
				}
				rows.Close()
				if len(ids) != 1 {
					return fmt.Errorf("patients %v hold the token", ids)
				}
				next := ids[0]%4 + 1
				for _, u := range [][2]int64{{500_000 + ids[0], ids[0]}, {1, next}} {
					if _, err := conn.ExecContext(ctx, `UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, u[0], u[1]); err != nil {
						return err
					}
				}
				_, err = conn.ExecContext(ctx, "COMMIT")
				return err
			}()
			if pgCode(err) == "40001" && retries < 100*rounds {
				retries++
				i--
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("B: %w", err)
				return
			}
		}
	}()
	go func() { // a reader
		defer wg.Done()
		for range 2 * rounds {
			ids, err := holders(w.enc)
			if err == nil && len(ids) != 1 {
				err = fmt.Errorf("patients %v hold the token", ids)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ids, err := holders(w.enc); err != nil || len(ids) != 1 {
		t.Errorf("at the end patients %v hold the token (%v)", ids, err)
	}
}
