package fraud

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/synth"
)

func tables(t testing.TB, c synth.Config) ([]byte, []byte, *synth.Truth) {
	t.Helper()
	var a, b bytes.Buffer
	tr, err := synth.Generate(c, &a, &b)
	if err != nil {
		t.Fatal(err)
	}
	return a.Bytes(), b.Bytes(), tr
}

func run(t testing.TB, p Params, a, b []byte) *Result {
	t.Helper()
	res, err := Run(context.Background(), p, Table{Bank: "BANKA", R: bytes.NewReader(a)}, Table{Bank: "BANKB", R: bytes.NewReader(b)})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// TestPlantedFraud checks the job against the synthetic ground truth. The
// thresholds are the planted shapes (3 senders per bank within 36h, 6-hop
// chains with 0.93–0.99 amount ratios and gaps under 3h10m, 25-payment
// bursts within an hour), so every planted case is findable; the precision
// floors allow for ordinary data that happens to look the same.
func TestPlantedFraud(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			a, b, tr := tables(t, synth.Config{Seed: seed, Transactions: 20000})
			res := run(t, Params{}, a, b)
			if res.Transactions != tr.Transactions {
				t.Errorf("Run().Transactions = %d; want %d distinct", res.Transactions, tr.Transactions)
			}
			for _, tt := range []struct {
				kind      string
				truth     []string
				precision float64
			}{
				{Mule, tr.Mules, 0.8},
				{Layering, tr.ChainAccounts(), 0.9},
				{Velocity, tr.Bursts, 0.9},
			} {
				m := Score(res.Findings, tt.kind, tt.truth)
				if m.Recall != 1 || m.Precision < tt.precision {
					t.Errorf("Score(%s) = %+v; want recall 1 and precision ≥ %v", tt.kind, m, tt.precision)
				}
			}
		})
	}
}

// TestPoolingNeeded shows that mules paid from both banks are invisible to
// either bank alone: loading bank A's table with an empty bank B table
// finds no external mule.
func TestPoolingNeeded(t *testing.T) {
	a, _, tr := tables(t, synth.Config{Seed: 5, Transactions: 20000})
	empty := []byte("id,time,from,to,amount,currency,channel,memo,fraud\n")
	res := run(t, Params{}, a, empty)
	for _, f := range res.Findings {
		if f.Kind == Mule && strings.HasPrefix(f.Account, synth.External+"-") {
			t.Errorf("bank A alone found external mule %s; want none (needs senders at both banks)", f.Account)
		}
	}
	if m := Score(res.Findings, Mule, tr.Mules); m.Recall > 0.5 {
		t.Errorf("bank A alone: mule recall %v; want ≤ 0.5", m.Recall)
	}
}

func TestSmallCases(t *testing.T) {
	const hdr = "id,time,from,to,amount,currency,channel,memo,fraud\n"
	row := func(id string, ts int, from, to string, amt int) string {
		return id + "," + itoa(ts) + "," + from + "," + to + "," + itoa(amt) + ",EUR,transfer,,0\n"
	}
	t.Run("mule needs k per bank within window", func(t *testing.T) {
		var a, b strings.Builder
		a.WriteString(hdr)
		b.WriteString(hdr)
		for i := 0; i < 3; i++ {
			a.WriteString(row("a"+itoa(i), 1000+i*10, "BANKA-"+itoa(i), "EXT-M1", 100))
			a.WriteString(row("c"+itoa(i), 1000+i*10, "BANKA-"+itoa(i), "EXT-M2", 100))
		}
		for i := 0; i < 3; i++ {
			b.WriteString(row("b"+itoa(i), 2000+i*10, "BANKB-"+itoa(i), "EXT-M1", 100))
			// Too late for EXT-M2's window.
			b.WriteString(row("d"+itoa(i), 1000+3600*49+i, "BANKB-"+itoa(i), "EXT-M2", 100))
		}
		res := run(t, Params{}, []byte(a.String()), []byte(b.String()))
		m := Score(res.Findings, Mule, []string{"EXT-M1"})
		if m.TruePositives != 1 || m.FalsePositives != 0 {
			t.Errorf("Score(mule) = %+v; want exactly EXT-M1", m)
		}
		for _, f := range res.Findings {
			if f.Account == "EXT-M1" && (f.Score != 6 || f.Count != 6 || f.Amount != 600 || f.First != 1000 || f.Last != 2020) {
				t.Errorf("EXT-M1 finding = %+v; want 6 senders, 6 transfers, 600, 1000..2020", f)
			}
		}
	})
	t.Run("chain needs decreasing amounts", func(t *testing.T) {
		var a strings.Builder
		a.WriteString(hdr)
		amts := []int{1000, 950, 910, 880, 2000}
		accts := []string{"BANKA-1", "BANKB-1", "BANKA-2", "BANKB-2", "BANKA-3", "BANKB-3"}
		for i, amt := range amts {
			a.WriteString(row("h"+itoa(i), 100+i*60, accts[i], accts[i+1], amt))
		}
		res := run(t, Params{}, []byte(a.String()), []byte(hdr))
		m := Score(res.Findings, Layering, accts[:5])
		if m.TruePositives != 5 || m.FalsePositives != 0 {
			t.Errorf("Score(layering) = %+v; want the first 4 hops' 5 accounts only (the 5th hop grows)", m)
		}
	})
	t.Run("velocity threshold", func(t *testing.T) {
		var a strings.Builder
		a.WriteString(hdr)
		for i := 0; i < 11; i++ {
			a.WriteString(row("v"+itoa(i), 100+i*300, "BANKA-9", "EXT-M"+itoa(i), 10))
			a.WriteString(row("w"+itoa(i), 100+i*300, "BANKA-8", "EXT-M"+itoa(i), 10))
		}
		a.WriteString(row("x", 100+10*300+7200, "BANKA-9", "EXT-M1", 10))
		res := run(t, Params{VelocityMax: 10}, []byte(a.String()), []byte(hdr))
		m := Score(res.Findings, Velocity, []string{"BANKA-9", "BANKA-8"})
		if m.TruePositives != 2 || m.FalsePositives != 0 {
			t.Errorf("Score(velocity) = %+v; want both 11-payment accounts", m)
		}
		res = run(t, Params{VelocityMax: 11}, []byte(a.String()), []byte(hdr))
		if m := Score(res.Findings, Velocity, nil); m.FalsePositives != 0 {
			t.Errorf("VelocityMax 11 flagged %d accounts; want 0", m.FalsePositives)
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTableErrors(t *testing.T) {
	const hdr = "id,time,from,to,amount,currency,channel,memo,fraud\n"
	ctx := context.Background()
	tests := []struct {
		name   string
		tables []Table
	}{
		{"foreign row", []Table{{Bank: "BANKA", R: strings.NewReader(hdr + "t1,1,BANKB-1,EXT-1,5,EUR,card,,0\n")}, {Bank: "BANKB", R: strings.NewReader(hdr)}}},
		{"malformed", []Table{{Bank: "BANKA", R: strings.NewReader("garbage\n")}, {Bank: "BANKB", R: strings.NewReader(hdr)}}},
		{"one bank", []Table{{Bank: "BANKA", R: strings.NewReader(hdr)}}},
		{"same bank twice", []Table{{Bank: "BANKA", R: strings.NewReader(hdr)}, {Bank: "BANKA", R: strings.NewReader(hdr)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(ctx, Params{}, tt.tables...); !errors.Is(err, ErrTable) {
				t.Errorf("Run(%s) = %v; want ErrTable", tt.name, err)
			}
		})
	}
}

func TestParamsFromJob(t *testing.T) {
	p, err := ParamsFromJob(contract.Job{Kind: "fraud", Params: map[string]float64{"mule_window_seconds": 3600, "chain_min_ratio": 0.9, "velocity_max": 20}})
	if err != nil {
		t.Fatal(err)
	}
	if p.MuleWindow != time.Hour || p.ChainMinRatio != 0.9 || p.VelocityMax != 20 || p.MuleMinSenders != 3 {
		t.Errorf("ParamsFromJob() = %+v; want window 1h, ratio 0.9, velocity 20, default k 3", p)
	}
	for _, tt := range []struct {
		name string
		job  contract.Job
	}{
		{"kind", contract.Job{Kind: "train"}},
		{"unknown", contract.Job{Kind: "fraud", Params: map[string]float64{"mule_windw_seconds": 1}}},
		{"fraction", contract.Job{Kind: "fraud", Params: map[string]float64{"velocity_max": 1.5}}},
		{"negative", contract.Job{Kind: "fraud", Params: map[string]float64{"chain_min_hops": -1}}},
		{"ratio", contract.Job{Kind: "fraud", Params: map[string]float64{"chain_min_ratio": 1}}},
		{"one hop", contract.Job{Kind: "fraud", Params: map[string]float64{"chain_min_hops": 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParamsFromJob(tt.job); !errors.Is(err, ErrParams) {
				t.Errorf("ParamsFromJob(%s) = %v; want ErrParams", tt.name, err)
			}
		})
	}
}

func TestScore(t *testing.T) {
	fs := []Finding{{Kind: Mule, Account: "a"}, {Kind: Mule, Account: "b"}, {Kind: Velocity, Account: "c"}}
	m := Score(fs, Mule, []string{"a", "c", "d"})
	if m.TruePositives != 1 || m.FalsePositives != 1 || m.FalseNegatives != 2 || m.Precision != 0.5 || m.Recall != 1.0/3 {
		t.Errorf("Score() = %+v; want TP 1 FP 1 FN 2 precision 0.5 recall 1/3", m)
	}
	if m := Score(nil, Mule, nil); m.Precision != 1 || m.Recall != 1 {
		t.Errorf("Score(nothing, nothing) = %+v; want precision 1 recall 1", m)
	}
}

func BenchmarkRun(b *testing.B) {
	a, bb, _ := tables(b, synth.Config{Seed: 1, Transactions: 20000})
	b.ResetTimer()
	for b.Loop() {
		run(b, Params{}, a, bb)
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "tx/s")
}
