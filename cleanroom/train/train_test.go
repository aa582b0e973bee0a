package train

import (
	"bytes"
	"math"
	"testing"

	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/synth"
)

func banks(t testing.TB, seed uint64, n int) map[string][]ledger.Transaction {
	t.Helper()
	var a, b bytes.Buffer
	if _, err := synth.Generate(synth.Config{Seed: seed, Transactions: n}, &a, &b); err != nil {
		t.Fatal(err)
	}
	ra, err := ledger.NewReader(&a).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := ledger.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]ledger.Transaction{"BANKA": ra, "BANKB": rb}
}

// TestCompare checks that pooling helps: mule transfers come from customers
// of both banks, so the pooled graph shows twice the senders and two sender
// banks where each bank alone sees only its own half. The pooled model must
// flag fraud on the common held-out set more precisely than either bank's
// own model, with recall and AUC at least as good as a fixed floor.
func TestCompare(t *testing.T) {
	for _, seed := range []uint64{11, 12, 13} {
		t.Run("seed"+string(rune('0'+seed-10)), func(t *testing.T) {
			rep, err := Compare(banks(t, seed, 20000), Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			p := rep.Pooled.Test
			t.Logf("pooled: %+v", p)
			if p.AUC < 0.95 || p.Recall < 0.9 {
				t.Errorf("pooled AUC %.3f recall %.3f; want ≥ 0.95 and ≥ 0.9", p.AUC, p.Recall)
			}
			if len(rep.Alone) != 2 {
				t.Fatalf("len(Alone) = %d; want 2", len(rep.Alone))
			}
			for b, r := range rep.Alone {
				t.Logf("%s alone: %+v", b, r.Test)
				if r.Test.Examples != p.Examples || r.Test.Positives != p.Positives {
					t.Errorf("%s evaluated on %d/%d examples; want the same test set %d/%d", b, r.Test.Positives, r.Test.Examples, p.Positives, p.Examples)
				}
				if p.Precision <= r.Test.Precision {
					t.Errorf("pooled precision %.3f ≤ %s alone %.3f; want pooling to help", p.Precision, b, r.Test.Precision)
				}
				if r.Train >= rep.Pooled.Train {
					t.Errorf("%s trained on %d examples; want fewer than pooled %d", b, r.Train, rep.Pooled.Train)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	tb := banks(t, 3, 4000)
	r1, err := Compare(tb, Options{Seed: 9, Epochs: 50})
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Compare(tb, Options{Seed: 9, Epochs: 50})
	for i := range r1.Pooled.Model.Weights {
		if r1.Pooled.Model.Weights[i] != r2.Pooled.Model.Weights[i] {
			t.Fatalf("Compare() with the same seed gave different weights")
		}
	}
}

func TestFeatures(t *testing.T) {
	tx := func(id string, ts int64, from, to string, amt int64, ch string) ledger.Transaction {
		return ledger.Transaction{ID: id, Time: ts, From: from, To: to, Amount: amt, Channel: ch, Currency: "EUR"}
	}
	txs := []ledger.Transaction{
		tx("1", 0, "BANKA-1", "EXT-P1", 10000, "transfer"),
		tx("2", 100, "BANKB-1", "EXT-P1", 10000, "transfer"),
		tx("2", 100, "BANKB-1", "EXT-P1", 10000, "transfer"), // same ID from the other table
		tx("3", 200, "BANKA-2", "BANKB-2", 10000, "instant"),
		tx("4", 300, "BANKB-2", "BANKA-3", 9500, "instant"),
		tx("5", 400, "BANKA-3", "EXT-M1", 500, "card"),
	}
	exs := Features(txs)
	if len(exs) != 5 {
		t.Fatalf("Features() gave %d examples; want 5 (duplicate ID once)", len(exs))
	}
	f := map[string][]float64{}
	for _, e := range exs {
		f[e.ID] = e.X
	}
	checks := []struct {
		id      string
		feature int
		want    float64
	}{
		{"1", 4, math.Log1p(2)}, {"1", 5, 2}, {"1", 3, 1}, {"1", 2, 0},
		{"3", 2, 1}, {"3", 8, 1}, {"3", 7, 0},
		{"4", 7, 1}, {"4", 8, 0},
		{"5", 1, 0}, {"5", 4, 0}, {"5", 6, math.Log1p(1)},
		{"1", 0, math.Log1p(100)},
	}
	for _, c := range checks {
		if got := f[c.id][c.feature]; math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Features()[%s].%s = %v; want %v", c.id, FeatureNames()[c.feature], got, c.want)
		}
	}
}

func TestNumFeatures(t *testing.T) {
	if len(FeatureNames()) != numFeatures {
		t.Errorf("len(FeatureNames()) = %d; want numFeatures %d", len(FeatureNames()), numFeatures)
	}
}

func TestFitErrors(t *testing.T) {
	x := make([]float64, numFeatures)
	if _, err := Fit([]Example{{X: x}, {X: x}}, Options{}); err != ErrData {
		t.Errorf("Fit(one class) = %v; want ErrData", err)
	}
	if _, err := Fit([]Example{{X: x, Fraud: true}, {X: x}}, Options{TestFraction: 2}); err == nil {
		t.Errorf("Fit(bad options) = nil error")
	}
}

func BenchmarkCompare(b *testing.B) {
	tb := banks(b, 1, 20000)
	for b.Loop() {
		if _, err := Compare(tb, Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAUC(t *testing.T) {
	tests := []struct {
		name string
		p    []float64
		y    []bool
		want float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5}, []bool{true, false, false}, 0.5},
		{"one swap", []float64{0.1, 0.3, 0.2, 0.9}, []bool{false, false, true, true}, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auc(func(yield func(float64, bool) bool) {
				for i := range tt.p {
					if !yield(tt.p[i], tt.y[i]) {
						return
					}
				}
			})
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("auc(%v, %v) = %v; want %v", tt.p, tt.y, got, tt.want)
			}
		})
	}
}
