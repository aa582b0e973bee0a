package train

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/confide-dev/confide/cleanroom/ledger"
)

// External is the bank prefix of accounts at none of the banks.
const External = "EXT"

// Windows used by the graph features, in seconds.
const (
	receiverWindow = 48 * 3600
	velocityWindow = 3600
	layeringWindow = 4 * 3600
)

// FeatureNames returns the feature names, in model order.
func FeatureNames() []string {
	return []string{
		"log_amount", "transfer", "cross_bank", "to_external",
		"receiver_senders_48h", "receiver_sender_banks_48h", "sender_payments_1h",
		"layering_in", "layering_out",
	}
}

// numFeatures is len(FeatureNames()).
const numFeatures = 9

// Example is one transaction's features and label.
type Example struct {
	// ID is the transaction ID.
	ID string
	// X are the features, in FeatureNames order.
	X []float64
	// Fraud is the label.
	Fraud bool
}

// Features computes an Example for every distinct transaction in txs, using
// only txs for the graph features (so a bank alone sees only its part of
// the graph). Transactions appearing twice (same ID) count once. The result
// is sorted by ID.
func Features(txs []ledger.Transaction) []Example {
	seen := map[string]bool{}
	var uniq []*ledger.Transaction
	for i := range txs {
		if !seen[txs[i].ID] {
			seen[txs[i].ID] = true
			uniq = append(uniq, &txs[i])
		}
	}
	slices.SortFunc(uniq, func(a, b *ledger.Transaction) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.ID, b.ID))
	})
	in, out := map[string][]*ledger.Transaction{}, map[string][]*ledger.Transaction{}
	for _, t := range uniq {
		in[t.To] = append(in[t.To], t)
		out[t.From] = append(out[t.From], t)
	}
	// window returns the transactions of list (time-sorted) within [lo, hi].
	window := func(list []*ledger.Transaction, lo, hi int64) []*ledger.Transaction {
		i := sort.Search(len(list), func(i int) bool { return list[i].Time >= lo })
		j := sort.Search(len(list), func(i int) bool { return list[i].Time > hi })
		return list[i:j]
	}
	isTransfer := func(t *ledger.Transaction) bool { return t.Channel == "transfer" || t.Channel == "instant" }
	layered := func(prev, next *ledger.Transaction) bool {
		return isTransfer(prev) && isTransfer(next) && next.Amount < prev.Amount && float64(next.Amount) >= 0.85*float64(prev.Amount)
	}
	exs := make([]Example, 0, len(uniq))
	for _, t := range uniq {
		fb, tb := ledger.Bank(t.From), ledger.Bank(t.To)
		x := make([]float64, numFeatures)
		x[0] = math.Log1p(float64(t.Amount) / 100)
		x[1] = b2f(isTransfer(t))
		x[2] = b2f(fb != tb && fb != External && tb != External)
		x[3] = b2f(tb == External)
		if isTransfer(t) {
			senders, banks := map[string]bool{}, map[string]bool{}
			for _, r := range window(in[t.To], t.Time-receiverWindow, t.Time+receiverWindow) {
				if isTransfer(r) {
					senders[r.From] = true
					banks[ledger.Bank(r.From)] = true
				}
			}
			x[4] = math.Log1p(float64(len(senders)))
			x[5] = float64(len(banks))
		}
		x[6] = math.Log1p(float64(len(window(out[t.From], t.Time-velocityWindow, t.Time+velocityWindow))))
		for _, r := range window(in[t.From], t.Time-layeringWindow, t.Time-1) {
			if layered(r, t) {
				x[7] = 1
			}
		}
		for _, r := range window(out[t.To], t.Time+1, t.Time+layeringWindow) {
			if layered(t, r) {
				x[8] = 1
			}
		}
		exs = append(exs, Example{ID: t.ID, X: x, Fraud: t.Fraud})
	}
	slices.SortFunc(exs, func(a, b Example) int { return cmp.Compare(a.ID, b.ID) })
	return exs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Options configures training. Zero fields take the defaults shown.
type Options struct {
	// Seed drives the train/test split.
	Seed uint64
	// TestFraction is the share of transactions held out (0.3).
	TestFraction float64
	// Epochs is the number of full-batch gradient steps (300).
	Epochs int
	// LearningRate is the gradient step size (0.5).
	LearningRate float64
	// L2 is the weight decay (1e-4).
	L2 float64
	// Threshold is the score at which precision and recall are measured (0.5).
	Threshold float64
}

func (o Options) withDefaults() (Options, error) {
	if o.TestFraction == 0 {
		o.TestFraction = 0.3
	}
	if o.Epochs == 0 {
		o.Epochs = 300
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.5
	}
	if o.L2 == 0 {
		o.L2 = 1e-4
	}
	if o.Threshold == 0 {
		o.Threshold = 0.5
	}
	if !(o.TestFraction > 0 && o.TestFraction < 1) || o.Epochs < 1 || o.LearningRate <= 0 || o.L2 < 0 || !(o.Threshold > 0 && o.Threshold < 1) {
		return o, fmt.Errorf("train: invalid options %+v", o)
	}
	return o, nil
}

// ErrData reports training data that cannot give a model (no examples, or
// only one class).
var ErrData = errors.New("train: need examples of both classes")

// Model is a trained logistic-regression classifier over standardised
// features. It is what leaves the clean room.
type Model struct {
	// Features names the inputs, in order.
	Features []string `json:"features"`
	// Mean and Scale standardise each feature: (x - Mean) / Scale.
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
	// Weights and Bias are the coefficients on standardised features.
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// Predict returns the fraud probability for features x.
func (m *Model) Predict(x []float64) float64 {
	z := m.Bias
	for i, w := range m.Weights {
		z += w * (x[i] - m.Mean[i]) / m.Scale[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// Fit trains a model on exs. Classes are weighted inversely to their
// frequency, so rare fraud is not ignored.
func Fit(exs []Example, o Options) (*Model, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	npos := 0
	for _, e := range exs {
		if e.Fraud {
			npos++
		}
	}
	if npos == 0 || npos == len(exs) {
		return nil, ErrData
	}
	d := numFeatures
	m := &Model{Features: FeatureNames(), Mean: make([]float64, d), Scale: make([]float64, d), Weights: make([]float64, d)}
	n := float64(len(exs))
	for _, e := range exs {
		for j, v := range e.X {
			m.Mean[j] += v / n
		}
	}
	for _, e := range exs {
		for j, v := range e.X {
			m.Scale[j] += (v - m.Mean[j]) * (v - m.Mean[j]) / n
		}
	}
	for j := range m.Scale {
		m.Scale[j] = math.Sqrt(m.Scale[j])
		if m.Scale[j] < 1e-9 {
			m.Scale[j] = 1 // a constant feature: its standardised value is 0
		}
	}
	xs := make([][]float64, len(exs))
	for i, e := range exs {
		xs[i] = make([]float64, d)
		for j, v := range e.X {
			xs[i][j] = (v - m.Mean[j]) / m.Scale[j]
		}
	}
	wPos, wNeg := n/(2*float64(npos)), n/(2*float64(len(exs)-npos))
	grad := make([]float64, d)
	for range o.Epochs {
		clear(grad)
		var gb float64
		for i, e := range exs {
			z := m.Bias
			for j, w := range m.Weights {
				z += w * xs[i][j]
			}
			p := 1 / (1 + math.Exp(-z))
			y, w := 0.0, wNeg
			if e.Fraud {
				y, w = 1, wPos
			}
			g := w * (p - y) / n
			for j := range grad {
				grad[j] += g * xs[i][j]
			}
			gb += g
		}
		for j := range m.Weights {
			m.Weights[j] -= o.LearningRate * (grad[j] + o.L2*m.Weights[j])
		}
		m.Bias -= o.LearningRate * gb
	}
	return m, nil
}

// Metrics are a model's scores on a test set.
type Metrics struct {
	// AUC is the area under the ROC curve (ties count half).
	AUC float64 `json:"auc"`
	// Precision and Recall are measured at Threshold.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Threshold is the score above which a transaction is flagged.
	Threshold float64 `json:"threshold"`
	// Positives and Examples count the test set.
	Positives int `json:"positives"`
	Examples  int `json:"examples"`
}

// Evaluate scores m on exs.
func Evaluate(m *Model, exs []Example, threshold float64) Metrics {
	type sc struct {
		p float64
		y bool
	}
	s := make([]sc, len(exs))
	met := Metrics{Threshold: threshold, Examples: len(exs)}
	tp, fp := 0, 0
	for i, e := range exs {
		s[i] = sc{m.Predict(e.X), e.Fraud}
		if e.Fraud {
			met.Positives++
		}
		if s[i].p >= threshold {
			if e.Fraud {
				tp++
			} else {
				fp++
			}
		}
	}
	if tp+fp > 0 {
		met.Precision = float64(tp) / float64(tp+fp)
	}
	if met.Positives > 0 {
		met.Recall = float64(tp) / float64(met.Positives)
	}
	met.AUC = auc(func(yield func(float64, bool) bool) {
		for _, x := range s {
			if !yield(x.p, x.y) {
				return
			}
		}
	})
	return met
}

// auc computes the Mann–Whitney AUC: the probability that a random positive
// scores above a random negative, ties counting half.
func auc(seq func(func(float64, bool) bool)) float64 {
	type sc struct {
		p float64
		y bool
	}
	var s []sc
	for p, y := range seq {
		s = append(s, sc{p, y})
	}
	slices.SortFunc(s, func(a, b sc) int { return cmp.Compare(a.p, b.p) })
	var pos, neg, rankSum float64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].p == s[i].p {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if s[k].y {
				rankSum += mid
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// Result is one trained model and its held-out metrics.
type Result struct {
	// Model is the trained model.
	Model *Model `json:"model"`
	// Train counts the training examples.
	Train int `json:"train_examples"`
	// Test are the metrics on the pooled held-out set.
	Test Metrics `json:"test"`
}

// Report compares the pooled model with per-bank models.
type Report struct {
	// Pooled is the model trained on every bank's table.
	Pooled Result `json:"pooled"`
	// Alone maps a bank to the model trained on its table only.
	Alone map[string]Result `json:"alone"`
}

// Compare holds out a seeded random TestFraction of the pooled
// transactions, trains on the rest of the pooled data and on each bank's
// rest alone (features from that bank's table only), and evaluates every
// model on the same pooled held-out set.
func Compare(tables map[string][]ledger.Transaction, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	banks := make([]string, 0, len(tables))
	var pooled []ledger.Transaction
	for b := range tables {
		banks = append(banks, b)
	}
	slices.Sort(banks)
	for _, b := range banks {
		pooled = append(pooled, tables[b]...)
	}
	all := Features(pooled)
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5851f42d4c957f2d))
	test := map[string]bool{}
	var trainEx, testEx []Example
	for _, i := range rng.Perm(len(all)) {
		if float64(len(testEx)) < o.TestFraction*float64(len(all)) {
			testEx = append(testEx, all[i])
			test[all[i].ID] = true
		} else {
			trainEx = append(trainEx, all[i])
		}
	}
	slices.SortFunc(trainEx, func(a, b Example) int { return cmp.Compare(a.ID, b.ID) })
	fit := func(exs []Example) (Result, error) {
		m, err := Fit(exs, o)
		if err != nil {
			return Result{}, err
		}
		return Result{Model: m, Train: len(exs), Test: Evaluate(m, testEx, o.Threshold)}, nil
	}
	rep := &Report{Alone: map[string]Result{}}
	if rep.Pooled, err = fit(trainEx); err != nil {
		return nil, err
	}
	for _, b := range banks {
		var own []Example
		for _, e := range Features(tables[b]) {
			if !test[e.ID] {
				own = append(own, e)
			}
		}
		r, err := fit(own)
		if err != nil {
			return nil, fmt.Errorf("train: bank %s: %w", b, err)
		}
		rep.Alone[b] = r
	}
	return rep, nil
}
