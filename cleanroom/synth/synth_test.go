package synth

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/confide-dev/confide/cleanroom/ledger"
)

func generate(t testing.TB, c Config) (a, b []byte, tr *Truth) {
	t.Helper()
	var ba, bb bytes.Buffer
	tr, err := Generate(c, &ba, &bb)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return ba.Bytes(), bb.Bytes(), tr
}

func rows(t testing.TB, b []byte) []ledger.Transaction {
	t.Helper()
	r, err := ledger.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("ledger.ReadAll: %v", err)
	}
	return r
}

func TestDeterministic(t *testing.T) {
	c := Config{Seed: 42, Transactions: 3000}
	a1, b1, _ := generate(t, c)
	a2, b2, _ := generate(t, c)
	if !bytes.Equal(a1, a2) || !bytes.Equal(b1, b2) {
		t.Errorf("Generate with the same seed gave different tables")
	}
	c.Seed = 43
	a3, _, _ := generate(t, c)
	if bytes.Equal(a1, a3) {
		t.Errorf("Generate with different seeds gave identical tables")
	}
}

func TestPlanted(t *testing.T) {
	c := Config{Seed: 7, Transactions: 20000}
	ab, bb, tr := generate(t, c)
	ra, rb := rows(t, ab), rows(t, bb)
	if tr.Rows["BANKA"] != len(ra) || tr.Rows["BANKB"] != len(rb) {
		t.Errorf("Truth.Rows = %v; tables have %d and %d rows", tr.Rows, len(ra), len(rb))
	}
	all := map[string]ledger.Transaction{}
	for _, set := range []struct {
		bank string
		rows []ledger.Transaction
	}{{"BANKA", ra}, {"BANKB", rb}} {
		var prev int64
		for _, r := range set.rows {
			if ledger.Bank(r.From) != set.bank && ledger.Bank(r.To) != set.bank {
				t.Fatalf("%s table holds %s→%s, which involves none of its accounts", set.bank, r.From, r.To)
			}
			if r.Time < prev {
				t.Fatalf("%s table not in time order at %s", set.bank, r.ID)
			}
			prev = r.Time
			if o, ok := all[r.ID]; ok && (o.From != r.From || o.Amount != r.Amount) {
				t.Fatalf("transaction %s differs between the two tables", r.ID)
			}
			all[r.ID] = r
		}
	}
	if len(all) != tr.Transactions {
		t.Errorf("distinct transactions = %d; Truth.Transactions = %d", len(all), tr.Transactions)
	}
	fraud := 0
	for _, r := range all {
		if r.Fraud {
			fraud++
		}
	}
	if want := tr.FraudRows; fraud != want {
		t.Errorf("labelled fraud rows = %d; want %d", fraud, want)
	}

	t.Run("mules", func(t *testing.T) {
		if len(tr.Mules) != 8 {
			t.Fatalf("len(Mules) = %d; want 8", len(tr.Mules))
		}
		for _, m := range tr.Mules {
			senders := map[string]map[string]bool{"BANKA": {}, "BANKB": {}}
			var lo, hi int64 = 1 << 62, 0
			for _, r := range all {
				if r.To == m && r.Fraud {
					senders[ledger.Bank(r.From)][r.From] = true
					lo, hi = min(lo, r.Time), max(hi, r.Time)
				}
			}
			if len(senders["BANKA"]) < 3 || len(senders["BANKB"]) < 3 || hi-lo > 36*3600 {
				t.Errorf("mule %s: senders A=%d B=%d over %ds; want ≥3 each within 36h", m, len(senders["BANKA"]), len(senders["BANKB"]), hi-lo)
			}
		}
	})
	t.Run("chains", func(t *testing.T) {
		for _, ch := range tr.Chains {
			if len(ch) != 7 {
				t.Fatalf("chain has %d accounts; want 7", len(ch))
			}
			var prevAmt, prevT int64
			for h := 0; h+1 < len(ch); h++ {
				if ledger.Bank(ch[h]) == ledger.Bank(ch[h+1]) {
					t.Errorf("chain hop %s→%s stays within one bank", ch[h], ch[h+1])
				}
				var hop *ledger.Transaction
				for _, r := range all {
					if r.From == ch[h] && r.To == ch[h+1] && r.Fraud {
						hop = &r
					}
				}
				if hop == nil {
					t.Fatalf("chain hop %s→%s missing from the tables", ch[h], ch[h+1])
				}
				if h > 0 && (hop.Amount >= prevAmt || hop.Amount < prevAmt*9/10 || hop.Time <= prevT || hop.Time-prevT > 4*3600) {
					t.Errorf("chain hop %d: amount %d after %d, %ds later; want slightly smaller within 4h", h, hop.Amount, prevAmt, hop.Time-prevT)
				}
				prevAmt, prevT = hop.Amount, hop.Time
			}
		}
	})
	t.Run("bursts", func(t *testing.T) {
		for _, acct := range tr.Bursts {
			var times []int64
			for _, r := range all {
				if r.From == acct && r.Fraud {
					times = append(times, r.Time)
				}
			}
			if len(times) != 25 || sliceSpan(times) > 3600 {
				t.Errorf("burst %s: %d payments over %ds; want 25 within an hour", acct, len(times), sliceSpan(times))
			}
		}
	})
	t.Run("markers", func(t *testing.T) {
		ma, mb := tr.Markers["BANKA"], tr.Markers["BANKB"]
		if ma == "" || mb == "" || ma == mb {
			t.Fatalf("Markers = %v; want two distinct markers", tr.Markers)
		}
		if !bytes.Contains(ab, []byte(ma)) || !bytes.Contains(bb, []byte(mb)) {
			t.Errorf("a bank's marker is missing from its own table")
		}
		if bytes.Contains(ab, []byte(mb)) || bytes.Contains(bb, []byte(ma)) {
			t.Errorf("a bank's marker appears in the other bank's table")
		}
	})
}

func sliceSpan(ts []int64) int64 {
	if len(ts) == 0 {
		return 0
	}
	lo, hi := ts[0], ts[0]
	for _, v := range ts {
		lo, hi = min(lo, v), max(hi, v)
	}
	return hi - lo
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Config
	}{
		{"negative", Config{Transactions: -1}},
		{"few customers", Config{Customers: 5}},
		{"same banks", Config{BankA: "X", BankB: "X"}},
		{"external bank", Config{BankA: "EXT"}},
		{"short period", Config{Period: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.c, io.Discard, io.Discard); err == nil {
				t.Errorf("Generate(%s) = nil error; want an error", tt.name)
			}
		})
	}
}

func TestMarkersStayInMemo(t *testing.T) {
	ab, _, tr := generate(t, Config{Seed: 1, Transactions: 2000})
	n := strings.Count(string(ab), tr.Markers["BANKA"])
	if want := (tr.Rows["BANKA"] + 499) / 500; n != want {
		t.Errorf("marker occurs %d times in bank A's table; want %d (first row and every 500th)", n, want)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(Config{Seed: 1, Transactions: 50000}, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(50000*b.N)/b.Elapsed().Seconds(), "tx/s")
}
