package driver_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/server/servertest"
)

// benchRows is the table size: CONFIDE_AESQL_BENCH_ROWS, default 20000
// (the figures in spec/aesql.md §5.9 use 1000000).
func benchRows(b *testing.B) int {
	if v := os.Getenv("CONFIDE_AESQL_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("CONFIDE_AESQL_BENCH_ROWS=%q: want a number ≥ 100", v)
		}
		return n
	}
	return 20000
}

// benchWorld holds the same rows several ways: randomized encrypted
// columns behind the server and its enclave (Enc, with indexes on k and g,
// and EncNoIdx without), plaintext behind the same server (Plain without
// indexes, PlainIdx with the same indexes as Enc), and plaintext in a
// SQLite database opened directly (raw).
type benchWorld struct {
	n     int
	enc   *sql.DB
	plain *sql.DB
	raw   *sql.DB
	keys  []int64
}

const groups = 100

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	n := benchRows(b)
	f := servertest.Start(b, servertest.Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	w := &benchWorld{n: n}
	var err error
	if w.plain, err = sql.Open(driver.Name, f.PlainDSN()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.plain.Close() })
	if w.enc, err = sql.Open(driver.Name, f.DSN()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.enc.Close() })
	enc := func(col string) string {
		return col + ` int ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')`
	}
	for _, q := range append(strings.Split(f.KeysDDL, ";\n"),
		`CREATE TABLE Enc (id int NOT NULL, `+enc("k")+`, `+enc("g")+`, pad nvarchar(20))`,
		`CREATE TABLE EncNoIdx (id int NOT NULL, `+enc("k")+`, `+enc("g")+`, pad nvarchar(20))`,
		`CREATE TABLE Plain (id int NOT NULL, k int, g int, pad nvarchar(20))`,
		`CREATE TABLE PlainIdx (id int NOT NULL, k int, g int, pad nvarchar(20))`) {
		if _, err := w.plain.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	if w.raw, err = sql.Open("sqlite", filepath.Join(b.TempDir(), "raw.db")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.raw.Close() })
	w.raw.SetMaxOpenConns(1)
	if _, err := w.raw.Exec(`CREATE TABLE Raw (id INTEGER NOT NULL, k INTEGER, g INTEGER, pad TEXT)`); err != nil {
		b.Fatal(err)
	}

	// Load directly: the cells are what the driver would make.
	key, err := aesql.NewKey(f.CEK1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	w.keys = make([]int64, n)
	for i, p := range r.Perm(n) {
		w.keys[i] = int64(p)
	}
	intType := aesql.Type{Kind: aesql.Int}
	cell := func(v int64) []byte {
		p, _ := aesql.Normalize(intType, v)
		c, err := key.Encrypt(p, false)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	load := func(db *sql.DB, q string, row func(i int) []any) {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if _, err := st.Exec(row(i)...); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	pad := "padding-padding-pad"
	sdb := f.Server.DB()
	kc, gc := make([][]byte, n), make([][]byte, n)
	for i := range n {
		kc[i], gc[i] = cell(w.keys[i]), cell(w.keys[i]%groups)
	}
	load(sdb, `INSERT INTO "Enc" VALUES (?, ?, ?, ?)`, func(i int) []any { return []any{i, kc[i], gc[i], pad} })
	load(sdb, `INSERT INTO "EncNoIdx" VALUES (?, ?, ?, ?)`, func(i int) []any { return []any{i, kc[i], gc[i], pad} })
	load(sdb, `INSERT INTO "Plain" VALUES (?, ?, ?, ?)`, func(i int) []any { return []any{i, w.keys[i], w.keys[i] % groups, pad} })
	load(sdb, `INSERT INTO "PlainIdx" VALUES (?, ?, ?, ?)`, func(i int) []any { return []any{i, w.keys[i], w.keys[i] % groups, pad} })
	load(w.raw, `INSERT INTO Raw VALUES (?, ?, ?, ?)`, func(i int) []any { return []any{i, w.keys[i], w.keys[i] % groups, pad} })
	if _, err := sdb.Exec(`CREATE INDEX plainidx_k ON "PlainIdx"(k); CREATE INDEX plainidx_g ON "PlainIdx"(g)`); err != nil {
		b.Fatal(err)
	}
	// The same indexes on the randomized columns, through the server:
	// rank columns that the first enclave query fills.
	for _, q := range []string{`CREATE INDEX enc_k ON Enc (k)`, `CREATE INDEX enc_g ON Enc (g)`} {
		if _, err := w.plain.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// rangeWidth is the width of the range scan: 0.1% of the rows.
func (w *benchWorld) rangeWidth() int64 { return max(int64(w.n/1000), 1) }

type benchQuery struct {
	name  string
	sql   string // with TABLE for the table
	args  func(i int) []any
	check func(rows int) bool
}

func (w *benchWorld) queries() []benchQuery {
	return []benchQuery{
		{"point", `SELECT id, k FROM TABLE WHERE k = $1`,
			func(i int) []any { return []any{w.keys[(i*7919)%w.n]} }, func(r int) bool { return r == 1 }},
		{"range", `SELECT id, k FROM TABLE WHERE k BETWEEN $1 AND $2`,
			func(i int) []any {
				lo := int64((i * 104729) % (w.n - int(w.rangeWidth())))
				return []any{lo, lo + w.rangeWidth() - 1}
			}, func(r int) bool { return int64(r) == w.rangeWidth() }},
		{"groupby", `SELECT g, count(*) FROM TABLE GROUP BY g`,
			func(int) []any { return nil }, func(r int) bool { return r == min(groups, w.n) }},
	}
}

func runQuery(b *testing.B, db *sql.DB, q string, args []any, check func(int) bool) {
	rows, err := db.Query(q, args...)
	if err != nil {
		b.Fatalf("%s: %v", q, err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	rows.Close()
	if !check(n) {
		b.Fatalf("%s %v: %d rows", q, args, n)
	}
}

// BenchmarkQueries compares point lookups, range scans and GROUP BY on
// randomized encrypted columns (evaluated by the enclave, through the
// driver and the wire protocol), with indexes (rank columns) and without,
// with the same queries on plaintext: through the same server with and
// without indexes, and in SQLite directly. The enclave's column cache is
// warm (BenchmarkColumnLoad measures filling it).
func BenchmarkQueries(b *testing.B) {
	w := newBenchWorld(b)
	for _, q := range w.queries() {
		// Warm the enclave's cache (and fill the rank columns) and check
		// the answer once.
		runQuery(b, w.enc, strings.ReplaceAll(q.sql, "TABLE", "Enc"), q.args(0), q.check)
		runQuery(b, w.enc, strings.ReplaceAll(q.sql, "TABLE", "EncNoIdx"), q.args(0), q.check)
		for _, v := range []struct {
			name, table string
			db          *sql.DB
		}{
			{"enclave", "Enc", w.enc},
			{"enclave-noindex", "EncNoIdx", w.enc},
			{"plain-wire", "Plain", w.plain},
			{"plain-wire-index", "PlainIdx", w.plain},
			{"plain-sqlite", "Raw", w.raw},
		} {
			sqlText := strings.ReplaceAll(q.sql, "TABLE", v.table)
			if v.table == "Raw" {
				sqlText = strings.NewReplacer("$1", "?1", "$2", "?2").Replace(sqlText)
			}
			b.Run(fmt.Sprintf("%s/%s/rows=%d", q.name, v.name, w.n), func(b *testing.B) {
				// Start from a collected heap: the setup and the variants
				// before leave garbage whose collection would be charged
				// to whichever runs next.
				runtime.GC()
				for i := 0; b.Loop(); i++ {
					runQuery(b, v.db, sqlText, q.args(i), q.check)
				}
			})
		}
	}
}

// BenchmarkColumnLoad measures loading a randomized column into the
// enclave's cache (what the first enclave query after a write pays):
// reading the cells, one ecall per 65536 cells, decryption and sorting;
// for an indexed column also its stored ranks, checked and kept. The first
// query on the indexed column (logged) also ranks every row.
func BenchmarkColumnLoad(b *testing.B) {
	w := newBenchWorld(b)
	for _, table := range []string{"EncNoIdx", "Enc"} {
		b.Run(table, func(b *testing.B) {
			q := `SELECT id FROM ` + table + ` WHERE k = $1`
			start := time.Now()
			runQuery(b, w.enc, q, []any{w.keys[0]}, func(r int) bool { return r == 1 })
			b.Logf("first enclave query over %d rows of %s (load + evaluate): %v", w.n, table, time.Since(start))
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				// A write marks the column as changed.
				if _, err := w.plain.Exec(`UPDATE `+table+` SET pad = $1 WHERE id = $2`, strconv.Itoa(i), 0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				runQuery(b, w.enc, q, []any{w.keys[1]}, func(r int) bool { return r == 1 })
			}
			b.ReportMetric(float64(w.n), "rows")
		})
	}
}
