package driver_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/server/servertest"
)

// indexDDL creates indexes on the randomized, enclave-enabled columns
// SSN, BirthDate and Salary (rank columns) and on the deterministic
// LastName (a plain index on its ciphertext).
var indexDDL = []string{
	`CREATE INDEX ix_ssn ON Patients (SSN)`,
	`CREATE NONCLUSTERED INDEX ix_birth_salary ON Patients (BirthDate DESC, Salary)`,
	`CREATE INDEX ix_salary ON Patients(Salary)`,
	`CREATE INDEX ix_last ON Patients (LastName)`,
}

func setupIndexed(t *testing.T, n int, o servertest.Options) *world {
	t.Helper()
	w := setupWith(t, n, o)
	for _, q := range indexDDL {
		if _, err := w.plain.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return w
}

// TestIndexed runs the enclave queries with indexes on the randomized
// columns: the same answers, now from rank columns.
func TestIndexed(t *testing.T) {
	for _, c := range []struct {
		name string
		o    servertest.Options
	}{{"enclave process", servertest.Options{}}, {"engine in process", servertest.Options{InProcess: true}}} {
		t.Run(c.name, func(t *testing.T) { indexed(t, c.o) })
	}
}

func indexed(t *testing.T, o servertest.Options) {
	w := setupIndexed(t, 300, o)
	t.Run("queries", func(t *testing.T) { enclaveQueries(t, w) })
	t.Run("results", func(t *testing.T) { resultsDecrypt(t, w) })
	t.Run("refusals", func(t *testing.T) { refusals(t, w) })
	t.Run("order and group", func(t *testing.T) { orderAndGroup(t, w) })
	t.Run("writes", func(t *testing.T) { indexedWrites(t, setupIndexed(t, 100, o)) })
	t.Run("index ddl", func(t *testing.T) { indexDDLErrors(t, setupWith(t, 20, o)) })
	t.Run("writes and concurrency", func(t *testing.T) { writesAndConcurrency(t, o, true) })
}

// salaryModel is what the table holds: PatientId → salary (nil: NULL),
// and whether Salary has an index.
type salaryModel struct {
	rows   map[int64]*int64
	ranked bool
}

func (m salaryModel) ids(keep func(s int64) bool) []int64 {
	var out []int64
	for id, s := range m.rows {
		if s != nil && keep(*s) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// check compares point, range, ORDER BY and GROUP BY answers on Salary
// with the model.
func (m salaryModel) check(t *testing.T, w *world, probe int64) {
	t.Helper()
	m.checkOn(t, w.enc, probe)
}

// checkOn is check through q (a connection pool or a transaction).
func (m salaryModel) checkOn(t *testing.T, q querier, probe int64) {
	t.Helper()
	if got, want := sorted(ids(t, q, `SELECT PatientId FROM Patients WHERE Salary = $1`, probe)), m.ids(func(s int64) bool { return s == probe }); !slices.Equal(got, want) {
		t.Errorf("Salary = %d: %v; want %v", probe, got, want)
	}
	lo, hi := probe-3000, probe+2000
	if got, want := sorted(ids(t, q, `SELECT PatientId FROM Patients WHERE Salary BETWEEN $1 AND $2`, lo, hi)), m.ids(func(s int64) bool { return s >= lo && s <= hi }); !slices.Equal(got, want) {
		t.Errorf("Salary BETWEEN %d AND %d: %v; want %v", lo, hi, got, want)
	}
	if got, want := sorted(ids(t, q, `SELECT PatientId FROM Patients WHERE Salary <> $1 AND PatientId > $2`, probe, 10)), m.ids(func(s int64) bool { return s != probe }); !slices.Equal(got, filter(want, func(id int64) bool { return id > 10 })) {
		t.Errorf("Salary <> %d AND PatientId > 10: %v; want %v", probe, got, filter(want, func(id int64) bool { return id > 10 }))
	}
	// ORDER BY Salary DESC, PatientId: NULLs last.
	var want []int64
	for id := range m.rows {
		want = append(want, id)
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := m.rows[want[i]], m.rows[want[j]]
		switch {
		case a == nil || b == nil:
			if (a == nil) != (b == nil) {
				return b == nil
			}
		case *a != *b:
			return *a > *b
		}
		return want[i] < want[j]
	})
	if got := ids(t, q, `SELECT PatientId FROM Patients ORDER BY Salary DESC, PatientId`); !slices.Equal(got, want) {
		t.Errorf("ORDER BY Salary DESC = %v; want %v", got, want)
	}
	// GROUP BY Salary with several aggregates and a plaintext filter.
	type group struct {
		salary sql.NullInt64
		n, sum int64
	}
	rows, err := q.Query(`SELECT Salary, count(*), sum(PatientId) FROM Patients WHERE PatientId >= $1 GROUP BY Salary ORDER BY Salary`, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.salary, &g.n, &g.sum); err != nil {
			t.Fatal(err)
		}
		got = append(got, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	byKey := map[sql.NullInt64]*group{}
	for id, s := range m.rows {
		if id < 3 {
			continue
		}
		k := sql.NullInt64{}
		if s != nil {
			k = sql.NullInt64{Int64: *s, Valid: true}
		}
		if byKey[k] == nil {
			byKey[k] = &group{salary: k}
		}
		byKey[k].n++
		byKey[k].sum += id
	}
	var wantG []group
	for _, g := range byKey {
		wantG = append(wantG, *g)
	}
	sort.Slice(wantG, func(i, j int) bool {
		a, b := wantG[i].salary, wantG[j].salary
		if a.Valid != b.Valid {
			return !a.Valid // NULL first
		}
		return a.Int64 < b.Int64
	})
	if !slices.Equal(got, wantG) {
		t.Errorf("GROUP BY Salary = %v; want %v", got, wantG)
	}
	if m.ranked {
		checkRanks(t, q)
	}
}

// checkRanks checks that the stored ranks of Salary (its rank column,
// aesql_rank_6) order the values: NULL 0, equal values equal ranks, a
// larger value a larger rank.
func checkRanks(t *testing.T, q querier) {
	t.Helper()
	rows, err := q.Query(`SELECT Salary, aesql_rank_6 FROM Patients`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type vr struct {
		v sql.NullInt64
		r int64
	}
	var all []vr
	for rows.Next() {
		var x vr
		if err := rows.Scan(&x.v, &x.r); err != nil {
			t.Fatal(err)
		}
		if !x.v.Valid && x.r != 0 || x.v.Valid && x.r <= 0 {
			t.Errorf("value %v has rank %d", x.v, x.r)
		}
		all = append(all, x)
	}
	for _, a := range all {
		for _, b := range all {
			if a.v.Valid && b.v.Valid && (a.v.Int64 < b.v.Int64) != (a.r < b.r) {
				t.Fatalf("values %d and %d have ranks %d and %d", a.v.Int64, b.v.Int64, a.r, b.r)
			}
		}
	}
}

func filter(x []int64, keep func(int64) bool) []int64 {
	var out []int64
	for _, v := range x {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func ptr(v int64) *int64 { return &v }

// indexedWrites changes an indexed column every way and checks the
// answers after each change.
func indexedWrites(t *testing.T, w *world) {
	m := salaryModel{rows: map[int64]*int64{}, ranked: true}
	for _, p := range w.ps {
		m.rows[p.id] = ptr(p.salary)
	}
	m.check(t, w, w.ps[3].salary)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.enc.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Inserts: a new smallest, largest and middle value, a NULL, a
	// duplicate, and one without a column list.
	exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3)`, 1001, "111-11-1111", -5)
	exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3), ($4, $5, $6)`, 1002, "111-11-1112", 10_000_000, 1003, "111-11-1113", 1500)
	exec(`INSERT INTO Patients (PatientId, SSN) VALUES ($1, $2)`, 1004, "111-11-1114")
	exec(`INSERT INTO Patients VALUES ($1, $2, $3, $4, $5, $6, $7)`, 1005, "111-11-1115", "Ann", "Smith", nil, w.ps[3].salary, nil)
	m.rows[1001], m.rows[1002], m.rows[1003], m.rows[1004], m.rows[1005] = ptr(-5), ptr(10_000_000), ptr(1500), nil, ptr(w.ps[3].salary)
	m.check(t, w, 1500)
	m.check(t, w, w.ps[3].salary)
	// Updates: a value moves, becomes NULL, becomes a value again.
	exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, 2500, w.ps[0].id)
	exec(`UPDATE Patients SET FirstName = $1, Salary = NULL WHERE PatientId = $2`, "Bo", w.ps[1].id)
	exec(`UPDATE Patients SET Salary = $1 WHERE PatientId = $2`, -5, 1004)
	m.rows[w.ps[0].id], m.rows[w.ps[1].id], m.rows[1004] = ptr(2500), nil, ptr(-5)
	m.check(t, w, 2500)
	m.check(t, w, -5)
	// Deletes by an enclave predicate.
	exec(`DELETE FROM Patients WHERE Salary < $1`, 1000)
	for id, s := range m.rows {
		if s != nil && *s < 1000 {
			delete(m.rows, id)
		}
	}
	m.check(t, w, 1500)
	// Values inserted one by one into the same gap, each queried before
	// the next: the gap runs out and the column is renumbered.
	for i := range 30 {
		id := int64(2000 + i)
		v := int64(1999 - i)
		exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3)`, id, "222-22-2222", v)
		m.rows[id] = ptr(v)
		if got := ids(t, w.enc, `SELECT PatientId FROM Patients WHERE Salary = $1`, v); !slices.Equal(got, []int64{id}) {
			t.Fatalf("after inserting %d: Salary = %d gives %v; want [%d]", i, v, got, id)
		}
	}
	m.check(t, w, 1985)
	// Ranks written by hand (the server passes the statement through)
	// do not mislead the enclave: it checks them against the values.
	exec(`UPDATE Patients SET aesql_rank_6 = 7 WHERE PatientId < 20`)
	m.check(t, w, 1985)
	// Without the index the enclave answers from its own ranks again.
	exec(`DROP INDEX ix_salary`)
	exec(`DROP INDEX ix_birth_salary`)
	m.ranked = false
	m.check(t, w, 1500)
	if _, err := w.plain.Exec(`SELECT aesql_rank_6 FROM Patients`); err == nil {
		t.Error("the rank column of Salary is still there after its indexes were dropped")
	}
}

// indexDDLErrors checks CREATE INDEX on columns an index cannot use.
func indexDDLErrors(t *testing.T, w *world) {
	for _, c := range []struct {
		name, q, code string
	}{
		{"randomized without enclave-enabled key", `CREATE INDEX ix_notes ON Patients (Notes)`, "0A000"},
		{"unique on randomized", `CREATE UNIQUE INDEX ix_ssn ON Patients (SSN)`, "0A000"},
		{"partial index on randomized", `CREATE INDEX ix_ssn ON Patients (SSN) WHERE PatientId > 3`, "0A000"},
		{"unknown column", `CREATE INDEX ix_x ON Patients (Nope, SSN)`, "42704"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.plain.Exec(c.q)
			if pgCode(err) != c.code {
				t.Errorf("%s: %v (SQLSTATE %q); want SQLSTATE %s", c.q, err, pgCode(err), c.code)
			}
		})
	}
	t.Run("deterministic is a plain index", func(t *testing.T) {
		if _, err := w.plain.Exec(`CREATE NONCLUSTERED INDEX ix_last ON Patients (LastName, PatientId DESC)`); err != nil {
			t.Fatal(err)
		}
		got := sorted(ids(t, w.enc, `SELECT PatientId FROM Patients WHERE LastName = $1`, "Chen"))
		if want := w.where(func(p patient) bool { return p.last == "Chen" }); !slices.Equal(got, want) {
			t.Errorf("LastName = Chen: %v; want %v", got, want)
		}
	})
	t.Run("duplicate name", func(t *testing.T) {
		if _, err := w.plain.Exec(`CREATE INDEX ix_s ON Patients (SSN)`); err != nil {
			t.Fatal(err)
		}
		if _, err := w.plain.Exec(`CREATE INDEX ix_s ON Patients (Salary)`); pgCode(err) != "42601" {
			t.Errorf("second index ix_s: %v; want SQLSTATE 42601", err)
		}
		if _, err := w.plain.Exec(`CREATE INDEX IF NOT EXISTS ix_s ON Patients (Salary)`); err != nil {
			t.Errorf("CREATE INDEX IF NOT EXISTS ix_s: %v", err)
		}
		got := ids(t, w.enc, `SELECT PatientId FROM Patients WHERE SSN = $1`, w.ps[7].ssn)
		if !slices.Equal(got, []int64{w.ps[7].id}) {
			t.Errorf("SSN = %s: %v; want [%d]", w.ps[7].ssn, got, w.ps[7].id)
		}
	})
	t.Run("drop table drops its indexes", func(t *testing.T) {
		for _, q := range []string{`DROP TABLE Patients`, patientsDDL, `CREATE INDEX ix_s ON Patients (SSN)`} {
			if _, err := w.plain.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}

// TestIndexCatalogPersists opens a second server on the database of a
// first: it knows the index and hides the rank column.
func TestIndexCatalogPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	w := setupWith(t, 10, servertest.Options{Path: path})
	if _, err := w.plain.Exec(`CREATE INDEX ix_salary ON Patients (Salary)`); err != nil {
		t.Fatal(err)
	}
	f2 := servertest.Start(t, servertest.Options{Path: path, NoEnclave: true})
	db, err := sql.Open(driver.Name, f2.PlainDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE INDEX ix_salary ON Patients (SSN)`); pgCode(err) != "42601" {
		t.Errorf("CREATE INDEX ix_salary again on the second server: %v; want SQLSTATE 42601 (exists)", err)
	}
	rows, err := db.Query(`SELECT * FROM Patients`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	rows.Close()
	if len(cols) != 7 {
		t.Errorf("SELECT * on the second server has columns %v; want the 7 declared", cols)
	}
	if _, err := db.Exec(`DROP INDEX ix_salary`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`SELECT aesql_rank_6 FROM Patients`); err == nil {
		t.Error("the rank column survived DROP INDEX on the second server")
	}
}
