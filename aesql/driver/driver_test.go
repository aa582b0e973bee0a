package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/server/servertest"
	"github.com/confide-dev/confide/attest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

const patientsDDL = `CREATE TABLE Patients (
	PatientId int NOT NULL,
	SSN char(11) COLLATE Latin1_General_BIN2 ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1,
		ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256') NOT NULL,
	FirstName nvarchar(50),
	LastName nvarchar(50) COLLATE Latin1_General_BIN2 ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1,
		ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	BirthDate date ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1,
		ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	Salary int ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1,
		ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	Notes nvarchar(100) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK2,
		ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')
)`

type patient struct {
	id     int64
	ssn    string
	first  string
	last   string
	birth  time.Time
	salary int64
}

var lastNames = []string{"Smith", "Jones", "Garcia", "Chen", "Okafor", "Novak"}

func makePatients(n int) []patient {
	r := rand.New(rand.NewPCG(1, 2))
	ps := make([]patient, n)
	for i := range ps {
		ps[i] = patient{
			id:     int64(i + 1),
			ssn:    fmt.Sprintf("%03d-%02d-%04d", r.IntN(1000), r.IntN(100), r.IntN(10000)),
			first:  fmt.Sprintf("F%d", i),
			last:   lastNames[r.IntN(len(lastNames))],
			birth:  time.Date(1940+r.IntN(70), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC),
			salary: int64(r.IntN(200)) * 1000,
		}
	}
	ps[7].ssn = "795-73-9838" // a known value
	ps[8].salary = ps[9].salary
	return ps
}

type world struct {
	f     *servertest.Fixture
	enc   *sql.DB
	plain *sql.DB
	ps    []patient
}

func setup(t *testing.T, n int) *world {
	return setupWith(t, n, servertest.Options{})
}

func setupWith(t *testing.T, n int, o servertest.Options) *world {
	t.Helper()
	f := servertest.Start(t, o)
	w := &world{f: f, ps: makePatients(n)}
	var err error
	if w.plain, err = sql.Open(driver.Name, f.PlainDSN()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.plain.Close() })
	if w.enc, err = sql.Open(driver.Name, f.DSN()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.enc.Close() })
	for _, q := range append(strings.Split(f.KeysDDL, ";\n"), patientsDDL) {
		if _, err := w.plain.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, p := range w.ps {
		if _, err := w.enc.Exec(`INSERT INTO Patients (PatientId, SSN, FirstName, LastName, BirthDate, Salary) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.id, p.ssn, p.first, p.last, p.birth, p.salary); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// querier is a connection pool or a transaction.
type querier interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

func ids(t *testing.T, db querier, q string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *world) where(keep func(p patient) bool) []int64 {
	var out []int64
	for _, p := range w.ps {
		if keep(p) {
			out = append(out, p.id)
		}
	}
	return out
}

func sorted(x []int64) []int64 { x = slices.Clone(x); slices.Sort(x); return x }

func TestEnclaveQueries(t *testing.T) { enclaveQueries(t, setup(t, 300)) }

func enclaveQueries(t *testing.T, w *world) {
	d := func(y, m, day int) time.Time { return time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name string
		q    string
		args []any
		want func(p patient) bool
	}{
		{"ssn =", `SELECT PatientId FROM Patients WHERE SSN = $1`, []any{"795-73-9838"}, func(p patient) bool { return p.ssn == "795-73-9838" }},
		{"ssn <>", `SELECT PatientId FROM Patients WHERE SSN <> $1`, []any{"795-73-9838"}, func(p patient) bool { return p.ssn != "795-73-9838" }},
		{"ssn like", `SELECT PatientId FROM Patients WHERE SSN LIKE $1`, []any{"1%"}, func(p patient) bool { return strings.HasPrefix(p.ssn, "1") }},
		{"ssn not like", `SELECT PatientId FROM Patients WHERE SSN NOT LIKE $1`, []any{"%5_-%"}, func(p patient) bool { return !likeMid(p.ssn) }},
		{"salary >", `SELECT PatientId FROM Patients WHERE Salary > $1`, []any{150000}, func(p patient) bool { return p.salary > 150000 }},
		{"salary >=", `SELECT PatientId FROM Patients WHERE Salary >= $1`, []any{150000}, func(p patient) bool { return p.salary >= 150000 }},
		{"salary <", `SELECT PatientId FROM Patients WHERE Salary < $1`, []any{20000}, func(p patient) bool { return p.salary < 20000 }},
		{"salary <=", `SELECT PatientId FROM Patients WHERE $1 >= Salary`, []any{20000}, func(p patient) bool { return p.salary <= 20000 }},
		{"between", `SELECT PatientId FROM Patients WHERE BirthDate BETWEEN $1 AND $2`, []any{d(1960, 1, 1), d(1969, 12, 31)},
			func(p patient) bool { return !p.birth.Before(d(1960, 1, 1)) && !p.birth.After(d(1969, 12, 31)) }},
		{"not between", `SELECT PatientId FROM Patients WHERE BirthDate NOT BETWEEN $1 AND $2`, []any{d(1960, 1, 1), d(1969, 12, 31)},
			func(p patient) bool { return p.birth.Before(d(1960, 1, 1)) || p.birth.After(d(1969, 12, 31)) }},
		{"in", `SELECT PatientId FROM Patients WHERE Salary IN ($1, $2, $3)`, []any{1000, 2000, 100000},
			func(p patient) bool { return p.salary == 1000 || p.salary == 2000 || p.salary == 100000 }},
		{"not in", `SELECT PatientId FROM Patients WHERE Salary NOT IN ($1, $2)`, []any{1000, 100000},
			func(p patient) bool { return p.salary != 1000 && p.salary != 100000 }},
		{"mixed with plaintext", `SELECT PatientId FROM Patients WHERE Salary > $1 AND PatientId < $2 AND SSN LIKE $3`, []any{50000, 200, "%9%"},
			func(p patient) bool { return p.salary > 50000 && p.id < 200 && strings.Contains(p.ssn, "9") }},
		{"deterministic =", `SELECT PatientId FROM Patients WHERE LastName = $1`, []any{"Chen"}, func(p patient) bool { return p.last == "Chen" }},
		{"deterministic in", `SELECT PatientId FROM Patients WHERE LastName IN ($1, $2)`, []any{"Chen", "Novak"}, func(p patient) bool { return p.last == "Chen" || p.last == "Novak" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sorted(ids(t, w.enc, c.q, c.args...))
			want := w.where(c.want)
			if !slices.Equal(got, want) {
				t.Errorf("%s = %v (%d rows); want %v (%d rows)", c.q, got, len(got), want, len(want))
			}
		})
	}
}

// likeMid reports whether s matches %5_-% : a '5' two places before a '-'.
func likeMid(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '5' && s[i+2] == '-' {
			return true
		}
	}
	return false
}

func TestOrderAndGroup(t *testing.T) { orderAndGroup(t, setup(t, 200)) }

func orderAndGroup(t *testing.T, w *world) {
	t.Run("order by randomized desc", func(t *testing.T) {
		rows, err := w.enc.Query(`SELECT PatientId, Salary FROM Patients WHERE Salary >= $1 ORDER BY Salary DESC, PatientId`, 100000)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got [][2]int64
		for rows.Next() {
			var id, s int64
			if err := rows.Scan(&id, &s); err != nil {
				t.Fatal(err)
			}
			got = append(got, [2]int64{id, s})
		}
		var want [][2]int64
		for _, p := range w.ps {
			if p.salary >= 100000 {
				want = append(want, [2]int64{p.id, p.salary})
			}
		}
		sort.SliceStable(want, func(i, j int) bool {
			if want[i][1] != want[j][1] {
				return want[i][1] > want[j][1]
			}
			return want[i][0] < want[j][0]
		})
		if !slices.Equal(got, want) {
			t.Errorf("ORDER BY Salary DESC = %v; want %v", got, want)
		}
	})
	t.Run("group by randomized", func(t *testing.T) {
		rows, err := w.enc.Query(`SELECT BirthDate, count(*) FROM Patients WHERE Salary < $1 GROUP BY BirthDate ORDER BY BirthDate`, 60000)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		type g struct {
			d time.Time
			n int64
		}
		var got []g
		for rows.Next() {
			var x g
			if err := rows.Scan(&x.d, &x.n); err != nil {
				t.Fatal(err)
			}
			got = append(got, x)
		}
		counts := map[time.Time]int64{}
		for _, p := range w.ps {
			if p.salary < 60000 {
				counts[p.birth]++
			}
		}
		var want []g
		for d, n := range counts {
			want = append(want, g{d, n})
		}
		sort.Slice(want, func(i, j int) bool { return want[i].d.Before(want[j].d) })
		if !slices.Equal(got, want) {
			t.Errorf("GROUP BY BirthDate = %v; want %v", got, want)
		}
	})
	t.Run("group by deterministic", func(t *testing.T) {
		rows, err := w.enc.Query(`SELECT LastName, count(*) FROM Patients GROUP BY LastName`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]int64{}
		for rows.Next() {
			var s string
			var n int64
			if err := rows.Scan(&s, &n); err != nil {
				t.Fatal(err)
			}
			got[s] = n
		}
		want := map[string]int64{}
		for _, p := range w.ps {
			want[p.last]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GROUP BY LastName = %v; want %v", got, want)
		}
	})
	t.Run("join on deterministic", func(t *testing.T) {
		var n int64
		if err := w.enc.QueryRow(`SELECT count(*) FROM Patients a JOIN Patients b ON a.LastName = b.LastName WHERE a.PatientId = $1`, 5).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want := int64(len(w.where(func(p patient) bool { return p.last == w.ps[4].last })))
		if n != want {
			t.Errorf("join count = %d; want %d", n, want)
		}
	})
	t.Run("after insert", func(t *testing.T) {
		// A write changes the column: the enclave must see the new row.
		if _, err := w.enc.Exec(`INSERT INTO Patients (PatientId, SSN, Salary) VALUES ($1, $2, $3)`, 9999, "000-00-0000", 12345); err != nil {
			t.Fatal(err)
		}
		got := ids(t, w.enc, `SELECT PatientId FROM Patients WHERE Salary = $1`, 12345)
		if !slices.Equal(got, []int64{9999}) {
			t.Errorf("after insert = %v; want [9999]", got)
		}
	})
}

func TestResultsDecryptAndPlainSeesCiphertext(t *testing.T) {
	resultsDecrypt(t, setup(t, 20))
}

func resultsDecrypt(t *testing.T, w *world) {
	p := w.ps[7]
	var ssn, last string
	var birth time.Time
	var salary int64
	if err := w.enc.QueryRow(`SELECT SSN, LastName, BirthDate, Salary FROM Patients WHERE PatientId = $1`, p.id).Scan(&ssn, &last, &birth, &salary); err != nil {
		t.Fatal(err)
	}
	if ssn != p.ssn || last != p.last || !birth.Equal(p.birth) || salary != p.salary {
		t.Errorf("decrypted row = %q %q %v %d; want %q %q %v %d", ssn, last, birth, salary, p.ssn, p.last, p.birth, p.salary)
	}
	// Star expansion maps the encrypted columns too.
	rows, err := w.enc.Query(`SELECT * FROM Patients WHERE SSN = $1`, p.ssn)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatal("SELECT * found no row")
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if vals[1] != p.ssn {
		t.Errorf("SELECT * SSN = %v; want %q", vals[1], p.ssn)
	}

	// Without column encryption the same column is ciphertext that only
	// CEK1 opens.
	var cell []byte
	if err := w.plain.QueryRow(`SELECT SSN FROM Patients WHERE PatientId = $1`, p.id).Scan(&cell); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cell, []byte(p.ssn)) || len(cell) < aesql.MinCellSize {
		t.Fatalf("plain SELECT SSN = %x; want a cell", cell)
	}
	k, _ := aesql.NewKey(w.f.CEK1)
	plain, err := k.Decrypt(cell)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := aesql.Denormalize(aesql.Type{Kind: aesql.Char, Length: 11}, plain)
	if v != p.ssn {
		t.Errorf("cell decrypts to %v; want %q", v, p.ssn)
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestRefusals(t *testing.T) { refusals(t, setup(t, 30)) }

func refusals(t *testing.T, w *world) {
	k, _ := aesql.NewKey(w.f.CEK1)
	validCell, _ := k.Encrypt(mustNorm(t, aesql.Type{Kind: aesql.Char, Length: 11}, "795-73-9838"), false)
	tampered := bytes.Clone(validCell)
	tampered[len(tampered)-1] ^= 1
	other := make([]byte, 32)
	other[0] = 7
	ok2, _ := aesql.NewKey(other)
	wrongKeyCell, _ := ok2.Encrypt(mustNorm(t, aesql.Type{Kind: aesql.Char, Length: 11}, "795-73-9838"), false)
	cases := []struct {
		name string
		db   *sql.DB
		q    string
		args []any
		code string
		is   error
	}{
		{"literal in where", w.enc, `SELECT PatientId FROM Patients WHERE SSN = '795-73-9838'`, nil, "42804", nil},
		{"literal in insert", w.plain, `INSERT INTO Patients (PatientId, SSN) VALUES (1, '795-73-9838')`, nil, "42804", nil},
		{"plaintext parameter", w.plain, `SELECT PatientId FROM Patients WHERE SSN = $1`, []any{"795-73-9838"}, "42804", nil},
		{"expression on encrypted", w.enc, `SELECT PatientId FROM Patients WHERE Salary + 1 > $1`, []any{5}, "42804", nil},
		{"truncated cell", w.plain, `INSERT INTO Patients (PatientId, SSN) VALUES ($1, $2)`, []any{1, validCell[:60]}, "22000", nil},
		{"no session for enclave predicate", w.plain, `SELECT PatientId FROM Patients WHERE SSN = $1`, []any{validCell}, "55000", nil},
		{"range on deterministic", w.enc, `SELECT PatientId FROM Patients WHERE LastName > $1`, []any{"A"}, "0A000", nil},
		{"range without enclave-enabled key", w.enc, `SELECT PatientId FROM Patients WHERE Notes LIKE $1`, []any{"%"}, "0A000", nil},
		{"order by deterministic", w.enc, `SELECT PatientId FROM Patients ORDER BY LastName`, nil, "0A000", nil},
		{"type mismatch", w.enc, `SELECT PatientId FROM Patients WHERE Salary = $1`, []any{"lots"}, "", driver.ErrValue},
		{"too long for the column", w.enc, `SELECT PatientId FROM Patients WHERE SSN = $1`, []any{"795-73-98389"}, "", driver.ErrValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, err := c.db.Query(c.q, c.args...)
			if err == nil {
				rows.Close()
				t.Fatalf("%s succeeded; want an error", c.q)
			}
			if c.code != "" && pgCode(err) != c.code {
				t.Errorf("%s: error %v has SQLSTATE %q; want %q", c.q, err, pgCode(err), c.code)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%s: error %v; want %v", c.q, err, c.is)
			}
			if strings.Contains(err.Error(), "795-73-9838") && c.args != nil {
				if _, isStr := c.args[0].(string); !isStr {
					t.Errorf("error %q leaks the plaintext", err)
				}
			}
		})
	}

	// Stored cells that do not open: the enclave refuses the column and
	// its error carries no plaintext; the driver refuses the result.
	for _, bad := range []struct {
		name string
		cell []byte
	}{{"tampered", tampered}, {"wrong key", wrongKeyCell}} {
		t.Run("stored "+bad.name+" cell", func(t *testing.T) {
			if _, err := w.plain.Exec(`INSERT INTO Patients (PatientId, SSN) VALUES ($1, $2)`, 500, bad.cell); err != nil {
				t.Fatal(err)
			}
			defer w.plain.Exec(`DELETE FROM Patients WHERE PatientId = 500`)
			_, err := w.enc.Query(`SELECT PatientId FROM Patients WHERE SSN = $1`, "795-73-9838")
			if pgCode(err) != "55000" || !strings.Contains(err.Error(), "cell does not decrypt") {
				t.Errorf("enclave predicate over a %s cell: %v; want SQLSTATE 55000, cell does not decrypt", bad.name, err)
			}
			for _, p := range w.ps {
				if strings.Contains(err.Error(), p.ssn) {
					t.Errorf("error %q leaks a stored value", err)
				}
			}
			var s string
			err = w.enc.QueryRow(`SELECT SSN FROM Patients WHERE PatientId = $1`, 500).Scan(&s)
			if !errors.Is(err, driver.ErrDecrypt) || !errors.Is(err, aesql.ErrMAC) {
				t.Errorf("reading a %s cell: %v; want ErrDecrypt wrapping aesql.ErrMAC", bad.name, err)
			}
		})
	}
}

func mustNorm(t *testing.T, typ aesql.Type, v any) []byte {
	b, err := aesql.Normalize(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder keeps what the client wrote to the server.
type recorder struct {
	mu  sync.Mutex
	out bytes.Buffer
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c recConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.out.Write(p)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

func TestAttestationFailureSendsNoKey(t *testing.T) {
	w := setup(t, 10)
	debug := servertest.Start(t, servertest.Options{Debug: true})
	for _, c := range []struct {
		name string
		dsn  string
		ddl  bool
		is   error
	}{
		{"wrong signer", strings.Replace(w.f.DSN(), "enclave_signer="+w.f.Signer, "enclave_signer="+strings.Repeat("ab", 32), 1), false, attest.ErrPolicy},
		{"wrong product", w.f.DSN() + "&enclave_product=7", false, attest.ErrPolicy},
		{"debug enclave", debug.DSN(), true, attest.ErrDebug},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := driver.ParseDSN(c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if c.ddl {
				// The debug server gets the same schema (and the keys of
				// this fixture's store: its own).
				db := sql.OpenDB(must(driver.NewConnector(driver.Config{ConnString: cfg.ConnString})))
				for _, q := range append(strings.Split(debug.KeysDDL, ";\n"), patientsDDL) {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				db.Close()
			}
			conn, err := driver.NewConnector(*cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			dial := conn.PGConfig().DialFunc
			conn.PGConfig().DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return recConn{nc, rec}, nil
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			_, err = db.Query(`SELECT PatientId FROM Patients WHERE SSN = $1`, "795-73-9838")
			if !errors.Is(err, driver.ErrAttestation) || !errors.Is(err, c.is) {
				t.Fatalf("query with %s: %v; want ErrAttestation and %v", c.name, err, c.is)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if bytes.Contains(rec.out.Bytes(), []byte("aesql_enclave_package")) {
				t.Error("a key package was sent after attestation failed")
			}
			if !bytes.Contains(rec.out.Bytes(), []byte("aesql_attest")) {
				t.Error("the driver did not attest at all")
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWritesAndConcurrency: UPDATE and DELETE with enclave predicates,
// and several connections (each its own attested session) querying at
// once while the column changes.
func TestWritesAndConcurrency(t *testing.T) {
	for _, c := range []struct {
		name string
		o    servertest.Options
	}{{"enclave process", servertest.Options{}}, {"engine in process", servertest.Options{InProcess: true}}} {
		t.Run(c.name, func(t *testing.T) { writesAndConcurrency(t, c.o, false) })
	}
}

// TestPostgres runs the enclave queries with the data in PostgreSQL
// (CONFIDE_TEST_POSTGRES, set by scripts/test).
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("CONFIDE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("CONFIDE_TEST_POSTGRES is not set (scripts/test starts PostgreSQL with scripts/postgres.sh)")
	}
	w := setupWith(t, 300, servertest.Options{Postgres: dsn})
	t.Run("queries", func(t *testing.T) { enclaveQueries(t, w) })
	t.Run("results", func(t *testing.T) { resultsDecrypt(t, w) })
	t.Run("refusals", func(t *testing.T) { refusals(t, w) })
	t.Run("order and group", func(t *testing.T) { orderAndGroup(t, w) })
	for _, c := range []struct {
		name string
		o    servertest.Options
	}{{"writes and concurrency", servertest.Options{Postgres: dsn}}} {
		t.Run(c.name, func(t *testing.T) { writesAndConcurrency(t, c.o, false) })
	}
	t.Run("indexed", func(t *testing.T) { indexed(t, servertest.Options{Postgres: dsn}) })
	t.Run("typed columns", func(t *testing.T) { typedColumns(t, servertest.Options{Postgres: dsn}) })
}

func writesAndConcurrency(t *testing.T, o servertest.Options, indexed bool) {
	var w *world
	if indexed {
		w = setupIndexed(t, 100, o)
	} else {
		w = setupWith(t, 100, o)
	}
	res, err := w.enc.Exec(`UPDATE Patients SET Salary = $1 WHERE SSN = $2`, 777000, w.ps[7].ssn)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("UPDATE by SSN affected %d rows; want 1", n)
	}
	if got := ids(t, w.enc, `SELECT PatientId FROM Patients WHERE Salary = $1`, 777000); !slices.Equal(got, []int64{w.ps[7].id}) {
		t.Errorf("after UPDATE: %v; want [%d]", got, w.ps[7].id)
	}
	cut := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err = w.enc.Exec(`DELETE FROM Patients WHERE BirthDate < $1`, cut)
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := len(w.where(func(p patient) bool { return p.birth.Before(cut) }))
	if n, _ := res.RowsAffected(); n != int64(wantDeleted) {
		t.Errorf("DELETE by BirthDate affected %d rows; want %d", n, wantDeleted)
	}
	left := w.where(func(p patient) bool { return !p.birth.Before(cut) })

	w.enc.SetMaxOpenConns(4)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if g == 0 && i%3 == 0 {
					// A writer: the others' enclave columns go stale.
					if _, err := w.enc.Exec(`UPDATE Patients SET FirstName = $1 WHERE PatientId = $2`, fmt.Sprint(i), left[0]); err != nil {
						errs <- err
						return
					}
				}
				rows, err := w.enc.Query(`SELECT PatientId FROM Patients WHERE BirthDate >= $1 ORDER BY PatientId`, cut)
				if err != nil {
					errs <- err
					return
				}
				var got []int64
				for rows.Next() {
					var id int64
					rows.Scan(&id)
					got = append(got, id)
				}
				rows.Close()
				if !slices.Equal(got, left) {
					errs <- fmt.Errorf("goroutine %d: %d rows; want %d", g, len(got), len(left))
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
