package fraud

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/ledger"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Finding kinds.
const (
	Mule     = "mule"
	Layering = "layering"
	Velocity = "velocity"
)

// Errors callers branch on.
var (
	// ErrTable reports a party table that is malformed or holds rows that
	// involve none of the party's accounts.
	ErrTable = errors.New("fraud: bad input table")
	// ErrParams reports invalid job parameters.
	ErrParams = errors.New("fraud: invalid parameters")
)

// Params are the job parameters. Zero fields take the defaults shown.
type Params struct {
	// MuleWindow is the window in which a mule's senders are counted (48h).
	MuleWindow time.Duration
	// MuleMinSenders is k: the distinct senders required from each bank (3).
	MuleMinSenders int
	// ChainGap is the longest time between consecutive hops of a chain (4h).
	ChainGap time.Duration
	// ChainMinHops is the shortest chain reported (4).
	ChainMinHops int
	// ChainMinRatio is the smallest ratio of a hop's amount to the previous
	// hop's; each hop must also be smaller than the previous (0.85).
	ChainMinRatio float64
	// VelocityWindow is the window for counting an account's payments (1h).
	VelocityWindow time.Duration
	// VelocityMax is the most payments allowed within VelocityWindow (10).
	VelocityMax int
}

// ParamsFromJob reads Params from a contract job of kind "fraud". Unknown
// parameter names are an error, so a typo cannot silently fall back to a
// default.
func ParamsFromJob(j contract.Job) (Params, error) {
	if j.Kind != "fraud" {
		return Params{}, fmt.Errorf("%w: job kind %q", ErrParams, j.Kind)
	}
	var p Params
	for k, v := range j.Params {
		if v < 0 || v != math.Trunc(v) && k != "chain_min_ratio" {
			return Params{}, fmt.Errorf("%w: %s = %v", ErrParams, k, v)
		}
		switch k {
		case "mule_window_seconds":
			p.MuleWindow = time.Duration(v) * time.Second
		case "mule_min_senders":
			p.MuleMinSenders = int(v)
		case "chain_gap_seconds":
			p.ChainGap = time.Duration(v) * time.Second
		case "chain_min_hops":
			p.ChainMinHops = int(v)
		case "chain_min_ratio":
			p.ChainMinRatio = v
		case "velocity_window_seconds":
			p.VelocityWindow = time.Duration(v) * time.Second
		case "velocity_max":
			p.VelocityMax = int(v)
		default:
			return Params{}, fmt.Errorf("%w: unknown parameter %q (see spec/cleanroom.md, Jobs)", ErrParams, k)
		}
	}
	return p.withDefaults()
}

func (p Params) withDefaults() (Params, error) {
	if p.MuleWindow == 0 {
		p.MuleWindow = 48 * time.Hour
	}
	if p.MuleMinSenders == 0 {
		p.MuleMinSenders = 3
	}
	if p.ChainGap == 0 {
		p.ChainGap = 4 * time.Hour
	}
	if p.ChainMinHops == 0 {
		p.ChainMinHops = 4
	}
	if p.ChainMinRatio == 0 {
		p.ChainMinRatio = 0.85
	}
	if p.VelocityWindow == 0 {
		p.VelocityWindow = time.Hour
	}
	if p.VelocityMax == 0 {
		p.VelocityMax = 10
	}
	if p.MuleWindow < time.Second || p.ChainGap < time.Second || p.VelocityWindow < time.Second ||
		p.MuleMinSenders < 1 || p.ChainMinHops < 2 || p.VelocityMax < 1 ||
		!(p.ChainMinRatio > 0 && p.ChainMinRatio < 1) {
		return p, fmt.Errorf("%w: %+v", ErrParams, p)
	}
	return p, nil
}

// Finding is one flagged account.
type Finding struct {
	// Kind is Mule, Layering or Velocity.
	Kind string
	// Account is the flagged account.
	Account string
	// Bank is the account's prefix (ledger.Bank).
	Bank string
	// Score grows with the strength of the evidence: distinct senders for a
	// mule, hops for a chain, payments in the window for velocity.
	Score float64
	// Count is the number of transactions behind the finding.
	Count int
	// Amount is their total amount in minor units.
	Amount int64
	// First and Last bound the evidence in Unix seconds.
	First, Last int64
}

// Aggregate is a count over a group of accounts or transactions.
type Aggregate struct {
	// Name says what is counted, e.g. "accounts.mule" or "transactions".
	Name string
	// Bank restricts the group to one bank's accounts ("" for all).
	Bank string
	// GroupSize is the number of accounts or transactions in the group.
	GroupSize int
	// Value is the aggregate value.
	Value float64
}

// Result is the job's raw output, before any output policy applies. It
// never leaves the enclave as is.
type Result struct {
	// Findings are sorted by kind, then score (highest first), then account.
	Findings []Finding
	// Aggregates summarise the findings and the input.
	Aggregates []Aggregate
	// Rows are raw transactions the job chose to include; the fraud job
	// leaves it empty, and the output policy refuses other banks' rows.
	Rows []ledger.Transaction
	// Transactions is the number of distinct transactions analysed.
	Transactions int
}

// Table is one party's decrypted input.
type Table struct {
	// Bank is the party's account prefix; every row must involve one of
	// its accounts.
	Bank string
	// R reads the table in ledger CSV format.
	R io.Reader
}

// DB is an in-memory database of pooled transactions.
type DB struct {
	db    *sql.DB
	banks []string
}

// Open creates an empty in-memory database. It opens no files.
func Open(ctx context.Context) (*DB, error) {
	// A named in-memory database; one connection keeps it alive and private.
	db, err := sql.Open("sqlite", "file:cleanroom?mode=memory")
	if err != nil {
		return nil, fmt.Errorf("fraud: %w", err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`PRAGMA temp_store = MEMORY`,
		`PRAGMA journal_mode = MEMORY`, // rollback of a failed load needs a journal
		`CREATE TABLE tx (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
			amount INTEGER NOT NULL, channel TEXT NOT NULL, fraud INTEGER NOT NULL,
			src_bank TEXT NOT NULL, dst_bank TEXT NOT NULL) WITHOUT ROWID`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("fraud: init: %w", err)
		}
	}
	return &DB{db: db}, nil
}

// Close frees the database.
func (d *DB) Close() error { return d.db.Close() }

// SQL returns the underlying database, for jobs that add their own queries.
func (d *DB) SQL() *sql.DB { return d.db }

// Load streams a party's table into the database. A transaction between two
// banks appears in both tables; the first copy loaded is kept.
func (d *DB) Load(ctx context.Context, t Table) (rows int, err error) {
	if t.Bank == "" || slices.Contains(d.banks, t.Bank) {
		return 0, fmt.Errorf("%w: empty or repeated bank %q", ErrTable, t.Bank)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("fraud: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO tx VALUES (?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return 0, fmt.Errorf("fraud: %w", err)
	}
	defer st.Close()
	r := ledger.NewReader(t.R)
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, fmt.Errorf("%w: bank %s: %w", ErrTable, t.Bank, err)
		}
		sb, db := ledger.Bank(row.From), ledger.Bank(row.To)
		if sb != t.Bank && db != t.Bank {
			return rows, fmt.Errorf("%w: bank %s: transaction %s involves none of its accounts", ErrTable, t.Bank, row.ID)
		}
		if _, err := st.ExecContext(ctx, row.ID, row.Time, row.From, row.To, row.Amount, row.Channel, row.Fraud, sb, db); err != nil {
			return rows, fmt.Errorf("fraud: load: %w", err)
		}
		rows++
	}
	if err := tx.Commit(); err != nil {
		return rows, fmt.Errorf("fraud: load: %w", err)
	}
	d.banks = append(d.banks, t.Bank)
	return rows, nil
}

// Run loads the tables into a fresh in-memory database and runs the job.
func Run(ctx context.Context, p Params, tables ...Table) (*Result, error) {
	d, err := Open(ctx)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	for _, t := range tables {
		if _, err := d.Load(ctx, t); err != nil {
			return nil, err
		}
	}
	return d.Run(ctx, p)
}

// Run runs the fraud job over everything loaded.
func (d *DB) Run(ctx context.Context, p Params) (*Result, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(d.banks) < 2 {
		return nil, fmt.Errorf("%w: need at least two banks' tables, have %d", ErrTable, len(d.banks))
	}
	for _, q := range []string{`CREATE INDEX IF NOT EXISTS tx_dst ON tx(dst, ts)`, `CREATE INDEX IF NOT EXISTS tx_src ON tx(src, ts)`} {
		if _, err := d.db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("fraud: %w", err)
		}
	}
	res := &Result{}
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM tx`).Scan(&res.Transactions); err != nil {
		return nil, fmt.Errorf("fraud: %w", err)
	}
	for _, f := range []func(context.Context, Params) ([]Finding, error){d.mules, d.chains, d.velocity} {
		fs, err := f(ctx, p)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, fs...)
	}
	slices.SortFunc(res.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Score, a.Score), cmp.Compare(a.Account, b.Account))
	})
	res.Aggregates = aggregates(res)
	return res, nil
}

func aggregates(res *Result) []Aggregate {
	out := []Aggregate{{Name: "transactions", GroupSize: res.Transactions, Value: float64(res.Transactions)}}
	for _, k := range []string{Layering, Mule, Velocity} {
		n := 0
		var amt int64
		for _, f := range res.Findings {
			if f.Kind == k {
				n++
				amt += f.Amount
			}
		}
		out = append(out,
			Aggregate{Name: "accounts." + k, GroupSize: n, Value: float64(n)},
			Aggregate{Name: "amount." + k, GroupSize: n, Value: float64(amt)})
	}
	return out
}

// mules slides a window over each account's incoming transfers and flags
// it when every bank contributes at least MuleMinSenders distinct senders.
func (d *DB) mules(ctx context.Context, p Params) ([]Finding, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT dst, dst_bank, ts, src, src_bank, amount FROM tx
		WHERE channel IN ('transfer', 'instant') AND src <> dst
		ORDER BY dst, ts`)
	if err != nil {
		return nil, fmt.Errorf("fraud: mules: %w", err)
	}
	defer rows.Close()
	type in struct {
		ts       int64
		src, bnk string
		amount   int64
	}
	var out []Finding
	var cur, curBank string
	var win []in
	window := int64(p.MuleWindow / time.Second)
	flush := func() {
		if f, ok := bestMuleWindow(win, d.banks, p.MuleMinSenders, window, func(x in) (int64, string, string, int64) { return x.ts, x.src, x.bnk, x.amount }); ok {
			f.Kind, f.Account, f.Bank = Mule, cur, curBank
			out = append(out, f)
		}
		win = win[:0]
	}
	for rows.Next() {
		var dst, db string
		var x in
		if err := rows.Scan(&dst, &db, &x.ts, &x.src, &x.bnk, &x.amount); err != nil {
			return nil, fmt.Errorf("fraud: mules: %w", err)
		}
		if dst != cur {
			flush()
			cur, curBank = dst, db
		}
		win = append(win, x)
	}
	flush()
	return out, rows.Err()
}

// bestMuleWindow finds the window of incoming transfers with the most
// distinct senders among those where every bank reaches k.
func bestMuleWindow[T any](xs []T, banks []string, k int, window int64, get func(T) (int64, string, string, int64)) (Finding, bool) {
	var best Finding
	found := false
	counts := map[string]int{}  // sender → transfers in window
	perBank := map[string]int{} // bank → distinct senders in window
	lo := 0
	for hi := range xs {
		ts, src, bnk, _ := get(xs[hi])
		if counts[src] == 0 {
			perBank[bnk]++
		}
		counts[src]++
		for {
			lts, lsrc, lbnk, _ := get(xs[lo])
			if ts-lts <= window {
				break
			}
			counts[lsrc]--
			if counts[lsrc] == 0 {
				perBank[lbnk]--
				delete(counts, lsrc)
			}
			lo++
		}
		ok := true
		for _, b := range banks {
			if perBank[b] < k {
				ok = false
				break
			}
		}
		if ok && float64(len(counts)) > best.Score {
			found = true
			best = Finding{Score: float64(len(counts)), Count: hi - lo + 1}
			best.Amount = 0
			for i := lo; i <= hi; i++ {
				t, _, _, a := get(xs[i])
				best.Amount += a
				if i == lo {
					best.First = t
				}
				best.Last = t
			}
		}
	}
	return best, found
}

type edge struct {
	id       string
	src, dst string
	ts       int64
	amount   int64
	next     int // index of the best following hop, or -1
	length   int // hops in the best chain starting here
}

// chains finds the longest chain of cross-bank hops starting at each
// transfer, by dynamic programming from the latest transfer backwards.
func (d *DB) chains(ctx context.Context, p Params) ([]Finding, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, src, dst, ts, amount FROM tx
		WHERE channel IN ('transfer', 'instant') AND src_bank <> dst_bank
		AND src_bank IN (SELECT value FROM json_each(?)) AND dst_bank IN (SELECT value FROM json_each(?))
		ORDER BY ts, id`, jsonList(d.banks), jsonList(d.banks))
	if err != nil {
		return nil, fmt.Errorf("fraud: chains: %w", err)
	}
	var es []edge
	for rows.Next() {
		e := edge{next: -1, length: 1}
		if err := rows.Scan(&e.id, &e.src, &e.dst, &e.ts, &e.amount); err != nil {
			rows.Close()
			return nil, fmt.Errorf("fraud: chains: %w", err)
		}
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fraud: chains: %w", err)
	}
	bySrc := map[string][]int{} // ascending time
	for i := range es {
		bySrc[es[i].src] = append(bySrc[es[i].src], i)
	}
	gap := int64(p.ChainGap / time.Second)
	for i := len(es) - 1; i >= 0; i-- {
		e := &es[i]
		for _, j := range bySrc[e.dst] {
			n := &es[j]
			if n.ts <= e.ts || n.ts-e.ts > gap {
				continue
			}
			if n.amount >= e.amount || float64(n.amount) < p.ChainMinRatio*float64(e.amount) {
				continue
			}
			if n.length+1 > e.length {
				e.length, e.next = n.length+1, j
			}
		}
	}
	// Report each account on a maximal chain of at least ChainMinHops, with
	// the longest chain it is on.
	best := map[string]*Finding{}
	onChain := make([]bool, len(es))
	for i := range es {
		if es[i].length < p.ChainMinHops || onChain[i] {
			continue
		}
		hops := es[i].length
		var amt int64
		var accts []string
		first, last := es[i].ts, es[i].ts
		for j := i; j >= 0; j = es[j].next {
			onChain[j] = true
			amt += es[j].amount
			last = es[j].ts
			if j == i {
				accts = append(accts, es[j].src)
			}
			accts = append(accts, es[j].dst)
		}
		for _, a := range accts {
			f := best[a]
			if f == nil || float64(hops) > f.Score {
				best[a] = &Finding{Kind: Layering, Account: a, Bank: ledger.Bank(a), Score: float64(hops), Count: hops, Amount: amt, First: first, Last: last}
			}
		}
	}
	out := make([]Finding, 0, len(best))
	for _, f := range best {
		out = append(out, *f)
	}
	return out, nil
}

func jsonList(s []string) string {
	b := []byte{'['}
	for i, x := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q", x)
	}
	return string(append(b, ']'))
}

// velocity flags accounts of the banks that make more than VelocityMax
// payments within VelocityWindow.
func (d *DB) velocity(ctx context.Context, p Params) ([]Finding, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT src, src_bank, ts, amount FROM tx
		WHERE src_bank IN (SELECT value FROM json_each(?)) ORDER BY src, ts`, jsonList(d.banks))
	if err != nil {
		return nil, fmt.Errorf("fraud: velocity: %w", err)
	}
	defer rows.Close()
	window := int64(p.VelocityWindow / time.Second)
	var out []Finding
	var cur, curBank string
	var ts, amts []int64
	flush := func() {
		lo := 0
		var best Finding
		for hi := range ts {
			for ts[hi]-ts[lo] > window {
				lo++
			}
			if n := hi - lo + 1; n > p.VelocityMax && float64(n) > best.Score {
				best = Finding{Kind: Velocity, Account: cur, Bank: curBank, Score: float64(n), Count: n, First: ts[lo], Last: ts[hi]}
				for _, a := range amts[lo : hi+1] {
					best.Amount += a
				}
			}
		}
		if best.Score > 0 {
			out = append(out, best)
		}
		ts, amts = ts[:0], amts[:0]
	}
	for rows.Next() {
		var src, sb string
		var t, a int64
		if err := rows.Scan(&src, &sb, &t, &a); err != nil {
			return nil, fmt.Errorf("fraud: velocity: %w", err)
		}
		if src != cur {
			flush()
			cur, curBank = src, sb
		}
		ts, amts = append(ts, t), append(amts, a)
	}
	flush()
	return out, rows.Err()
}

// Metrics compares findings of one kind with ground truth.
type Metrics struct {
	// Kind is the finding kind scored.
	Kind string
	// TruePositives, FalsePositives and FalseNegatives count accounts.
	TruePositives, FalsePositives, FalseNegatives int
	// Precision is TP/(TP+FP), or 1 when nothing was found.
	Precision float64
	// Recall is TP/(TP+FN), or 1 when there was nothing to find.
	Recall float64
}

// Score computes precision and recall of the findings of kind against the
// set of accounts that truly are of that kind.
func Score(findings []Finding, kind string, truth []string) Metrics {
	want := map[string]bool{}
	for _, a := range truth {
		want[a] = true
	}
	got := map[string]bool{}
	for _, f := range findings {
		if f.Kind == kind {
			got[f.Account] = true
		}
	}
	m := Metrics{Kind: kind}
	for a := range got {
		if want[a] {
			m.TruePositives++
		} else {
			m.FalsePositives++
		}
	}
	m.FalseNegatives = len(want) - m.TruePositives
	m.Precision, m.Recall = 1, 1
	if n := m.TruePositives + m.FalsePositives; n > 0 {
		m.Precision = float64(m.TruePositives) / float64(n)
	}
	if n := len(want); n > 0 {
		m.Recall = float64(m.TruePositives) / float64(n)
	}
	return m
}
