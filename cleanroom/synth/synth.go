package synth

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/confide-dev/confide/cleanroom/ledger"
)

// Config sets the shape of the generated data. Zero fields take the
// documented defaults.
type Config struct {
	// Seed makes the output deterministic.
	Seed uint64
	// Transactions is the number of ordinary transactions in total across
	// both banks; zero means 20000. Up to tens of millions are fine: rows
	// are streamed, never held.
	Transactions int
	// Customers is the number of customers per bank; zero means
	// max(200, Transactions/40).
	Customers int
	// Merchants is the number of external merchant accounts; zero means 300.
	Merchants int
	// Payees is the number of external personal accounts; zero means
	// max(400, Customers).
	Payees int
	// Mules is the number of mule accounts; zero means 8.
	Mules int
	// MuleSenders is how many distinct customers of EACH bank pay each
	// mule; zero means 3.
	MuleSenders int
	// Chains is the number of layering chains; zero means 8.
	Chains int
	// ChainHops is the number of hops per chain; zero means 6.
	ChainHops int
	// Bursts is the number of velocity anomalies; zero means 8.
	Bursts int
	// BurstSize is the number of payments in each burst; zero means 25.
	BurstSize int
	// Start is the time of the first transaction; zero means 2026-01-01 UTC.
	Start time.Time
	// Period is the time span of the data; zero means 30 days.
	Period time.Duration
	// BankA and BankB are the two banks' account prefixes; empty means
	// "BANKA" and "BANKB".
	BankA, BankB string
	// Currency is the currency of every transaction; empty means "EUR".
	Currency string
}

// External is the account prefix of accounts at neither bank.
const External = "EXT"

// Truth is the planted ground truth.
type Truth struct {
	// BankA and BankB are the banks' account prefixes.
	BankA, BankB string
	// Mules are the mule accounts.
	Mules []string
	// Chains lists, for each layering chain, its accounts in hop order.
	Chains [][]string
	// Bursts are the accounts with velocity anomalies.
	Bursts []string
	// Markers maps a bank prefix to the marker string planted in its table.
	Markers map[string]string
	// Rows maps a bank prefix to the number of rows written to its table.
	Rows map[string]int
	// FraudRows is the number of distinct labelled fraud transactions.
	FraudRows int
	// Transactions is the number of distinct transactions generated.
	Transactions int
}

// ChainAccounts returns every account that takes part in a layering chain.
func (t *Truth) ChainAccounts() []string {
	var out []string
	for _, c := range t.Chains {
		out = append(out, c...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c Config) withDefaults() (Config, error) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Transactions, 20000)
	def(&c.Customers, max(200, c.Transactions/40))
	def(&c.Merchants, 300)
	def(&c.Payees, max(400, c.Customers))
	def(&c.Mules, 8)
	def(&c.MuleSenders, 3)
	def(&c.Chains, 8)
	def(&c.ChainHops, 6)
	def(&c.Bursts, 8)
	def(&c.BurstSize, 25)
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Period == 0 {
		c.Period = 30 * 24 * time.Hour
	}
	if c.BankA == "" {
		c.BankA = "BANKA"
	}
	if c.BankB == "" {
		c.BankB = "BANKB"
	}
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	switch {
	case c.Transactions < 0 || c.Customers < 0 || c.Mules < 0 || c.Chains < 0 || c.Bursts < 0:
		return c, errors.New("synth: negative count")
	case c.Customers < 2*c.MuleSenders+c.ChainHops+c.Bursts:
		return c, errors.New("synth: too few customers for the planted fraud")
	case c.Period < 24*time.Hour:
		return c, errors.New("synth: period shorter than a day")
	case c.BankA == c.BankB || c.BankA == External || c.BankB == External:
		return c, errors.New("synth: bank prefixes must differ from each other and from EXT")
	}
	return c, nil
}

type gen struct {
	c      Config
	rng    *rand.Rand
	wa, wb *ledger.Writer
	truth  *Truth
	seq    int
	start  int64
	period int64
}

func (g *gen) customer(bank string, i int) string { return fmt.Sprintf("%s-%07d", bank, i) }
func (g *gen) bank(i int) string {
	if i == 0 {
		return g.c.BankA
	}
	return g.c.BankB
}
func (g *gen) randCustomer(bank string) string { return g.customer(bank, g.rng.IntN(g.c.Customers)) }

// Generate writes bank A's table to a and bank B's to b and returns the
// planted ground truth. A transaction between the two banks appears in
// both tables. The writers are written in one pass, in time order.
func Generate(cfg Config, a, b io.Writer) (*Truth, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &gen{
		c: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
		wa: ledger.NewWriter(a), wb: ledger.NewWriter(b),
		truth:  &Truth{BankA: c.BankA, BankB: c.BankB, Markers: map[string]string{}, Rows: map[string]int{}},
		start:  c.Start.Unix(),
		period: int64(c.Period / time.Second),
	}
	for _, bk := range []string{c.BankA, c.BankB} {
		g.truth.Markers[bk] = fmt.Sprintf("CONFIDE-MARKER-%s-%016x", bk, g.rng.Uint64())
	}
	fraud := g.plant()
	slices.SortStableFunc(fraud, func(x, y ledger.Transaction) int { return cmp.Compare(x.Time, y.Time) })

	// Ordinary transactions, evenly spread with exponential gaps, merged
	// with the planted ones in time order.
	mean := float64(g.period) / float64(c.Transactions+1)
	t := float64(g.start)
	fi := 0
	for i := 0; i < c.Transactions; i++ {
		t += g.rng.ExpFloat64() * mean
		tx := g.ordinary(int64(t))
		for fi < len(fraud) && fraud[fi].Time <= tx.Time {
			if err := g.emit(&fraud[fi]); err != nil {
				return nil, err
			}
			fi++
		}
		if err := g.emit(&tx); err != nil {
			return nil, err
		}
	}
	for ; fi < len(fraud); fi++ {
		if err := g.emit(&fraud[fi]); err != nil {
			return nil, err
		}
	}
	if err := g.wa.Flush(); err != nil {
		return nil, err
	}
	if err := g.wb.Flush(); err != nil {
		return nil, err
	}
	g.truth.FraudRows = len(fraud)
	return g.truth, nil
}

func (g *gen) id() string {
	g.seq++
	return fmt.Sprintf("T%010d", g.seq)
}

func (g *gen) emit(tx *ledger.Transaction) error {
	tx.ID = g.id()
	g.truth.Transactions++
	fb, tb := ledger.Bank(tx.From), ledger.Bank(tx.To)
	for i, w := range []*ledger.Writer{g.wa, g.wb} {
		bk := g.bank(i)
		if fb != bk && tb != bk {
			continue
		}
		n := g.truth.Rows[bk]
		row := *tx
		// Plant this bank's marker in its first row and every 500th after.
		if n%500 == 0 {
			row.Memo = g.truth.Markers[bk]
		}
		if err := w.Write(&row); err != nil {
			return err
		}
		g.truth.Rows[bk] = n + 1
	}
	return nil
}

func memos() [10]string {
	return [...]string{"", "", "groceries", "rent", "invoice", "thanks", "dinner", "utilities", "gift", "subscription"}
}

func (g *gen) amount(meanCents float64) int64 {
	// Log-normal amounts around meanCents.
	v := math.Exp(math.Log(meanCents) + 0.8*g.rng.NormFloat64())
	return max(100, int64(v))
}

func (g *gen) ordinary(t int64) ledger.Transaction {
	from := g.randCustomer(g.bank(g.rng.IntN(2)))
	tx := ledger.Transaction{Time: t, From: from, Currency: g.c.Currency, Memo: memos()[g.rng.IntN(len(memos()))]}
	switch p := g.rng.Float64(); {
	case p < 0.55:
		tx.To = fmt.Sprintf("%s-M%06d", External, g.rng.IntN(g.c.Merchants))
		tx.Channel, tx.Amount = "card", g.amount(4000)
	case p < 0.65:
		tx.To = fmt.Sprintf("%s-P%06d", External, g.rng.IntN(g.c.Payees))
		tx.Channel, tx.Amount = "transfer", g.amount(30000)
	default:
		bk := ledger.Bank(from)
		if g.rng.Float64() < 0.25 {
			if bk == g.c.BankA {
				bk = g.c.BankB
			} else {
				bk = g.c.BankA
			}
		}
		tx.To = g.randCustomer(bk)
		for tx.To == from {
			tx.To = g.randCustomer(bk)
		}
		tx.Channel, tx.Amount = "transfer", g.amount(25000)
		if g.rng.Float64() < 0.3 {
			tx.Channel = "instant"
		}
	}
	return tx
}

// plant generates every planted fraud transaction (without IDs).
func (g *gen) plant() []ledger.Transaction {
	c := g.c
	var out []ledger.Transaction
	when := func(margin int64) int64 { return g.start + margin + g.rng.Int64N(max(1, g.period-2*margin)) }
	used := map[string]bool{}
	fresh := func(bank string) string {
		for {
			a := g.randCustomer(bank)
			if !used[a] {
				used[a] = true
				return a
			}
		}
	}
	for m := 0; m < c.Mules; m++ {
		var mule string
		if m%3 == 2 {
			mule = fresh(g.bank(m % 2))
		} else {
			mule = fmt.Sprintf("%s-P%06d", External, c.Payees+m) // a payee no ordinary customer pays
		}
		g.truth.Mules = append(g.truth.Mules, mule)
		t0 := when(3 * 86400)
		for bi := 0; bi < 2; bi++ {
			for s := 0; s < c.MuleSenders; s++ {
				out = append(out, ledger.Transaction{
					Time: t0 + g.rng.Int64N(36*3600), From: fresh(g.bank(bi)), To: mule,
					Amount: 20000 + g.rng.Int64N(70000), Currency: c.Currency, Channel: "transfer",
					Memo: "invoice", Fraud: true,
				})
			}
		}
	}
	for ch := 0; ch < c.Chains; ch++ {
		first := ch % 2
		accts := []string{fresh(g.bank(first))}
		t := when(3 * 86400)
		amt := 500000 + g.rng.Int64N(1500000)
		for h := 0; h < c.ChainHops; h++ {
			next := fresh(g.bank((first + h + 1) % 2))
			out = append(out, ledger.Transaction{
				Time: t, From: accts[len(accts)-1], To: next, Amount: amt,
				Currency: c.Currency, Channel: "instant", Memo: "transfer", Fraud: true,
			})
			accts = append(accts, next)
			t += 600 + g.rng.Int64N(3*3600)
			amt = amt * (930 + g.rng.Int64N(60)) / 1000
		}
		g.truth.Chains = append(g.truth.Chains, accts)
	}
	for bu := 0; bu < c.Bursts; bu++ {
		acct := fresh(g.bank(bu % 2))
		g.truth.Bursts = append(g.truth.Bursts, acct)
		t := when(86400)
		for i := 0; i < c.BurstSize; i++ {
			out = append(out, ledger.Transaction{
				Time: t + int64(i)*(60+g.rng.Int64N(60)), From: acct,
				To:     fmt.Sprintf("%s-M%06d", External, g.rng.IntN(c.Merchants)),
				Amount: 5000 + g.rng.Int64N(20000), Currency: c.Currency, Channel: "card", Fraud: true,
			})
		}
	}
	return out
}
