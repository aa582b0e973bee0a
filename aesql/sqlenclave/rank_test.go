package sqlenclave

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/confide-dev/confide/aesql/internal/enclproto"
)

// loadRanked loads cells with stored ranks as a ranked column and returns
// the ranks the rows hold once the server applies the enclave's updates.
func (c *client) loadRanked(t *testing.T, name string, cells [][]byte, stored []int64) (final []int64, updates int) {
	t.Helper()
	req := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: name, CEK: "CEK1", Type: intType,
		Flags: enclproto.LoadFirst | enclproto.LoadLast | enclproto.LoadRanked, Cells: cells, Ranks: stored}
	out, err := c.w.e.load(context.Background(), req.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	us, err := enclproto.ParseRankUpdates(out, len(cells))
	if err != nil {
		t.Fatal(err)
	}
	final = slices.Clone(stored)
	for _, u := range us {
		final[u.Pos] = u.Rank
	}
	return final, len(us)
}

// checkOrder fails unless ranks order vals: NULL (nil) 0, equal values
// equal ranks, larger values larger ranks.
func checkOrder(t *testing.T, vals []*int64, ranks []int64) {
	t.Helper()
	type vr struct{ v, r int64 }
	var xs []vr
	for i, v := range vals {
		if v == nil {
			if ranks[i] != 0 {
				t.Fatalf("NULL row %d has rank %d; want 0", i, ranks[i])
			}
			continue
		}
		if ranks[i] < 1 {
			t.Fatalf("row %d (%d) has rank %d; want ≥ 1", i, *v, ranks[i])
		}
		xs = append(xs, vr{*v, ranks[i]})
	}
	slices.SortFunc(xs, func(a, b vr) int { return int(a.v - b.v) })
	for i := 1; i < len(xs); i++ {
		a, b := xs[i-1], xs[i]
		if a.v == b.v && a.r != b.r || a.v < b.v && a.r >= b.r {
			t.Fatalf("values %d, %d have ranks %d, %d", a.v, b.v, a.r, b.r)
		}
	}
}

func TestRankedLoad(t *testing.T) {
	w := newWorld(t)
	c := w.attest(t)
	q0 := `SELECT * FROM t ORDER BY x`
	if err := c.open(c.seal(t, q0, enclproto.CEK{Name: "CEK1", Key: w.cek}), q0); err != nil {
		t.Fatal(err)
	}
	r := mrand.New(mrand.NewPCG(7, 8))
	var vals []*int64
	var cells [][]byte
	add := func(v *int64) {
		vals = append(vals, v)
		if v == nil {
			cells = append(cells, nil)
		} else {
			cells = append(cells, w.cell(t, intType, *v))
		}
	}
	for i := range 2000 {
		if i%97 == 0 {
			add(nil)
			continue
		}
		v := int64(r.IntN(300)) * 10
		add(&v)
	}
	none := func(n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = enclproto.NoRank
		}
		return s
	}
	load := 0
	next := func() string { load++; return fmt.Sprintf("t.x#%d", load) }

	ranks, n := c.loadRanked(t, next(), cells, none(len(cells)))
	checkOrder(t, vals, ranks)
	if n != len(cells) {
		t.Errorf("first ranked load updated %d rows; want all %d", n, len(cells))
	}
	t.Run("stored ranks kept", func(t *testing.T) {
		again, n := c.loadRanked(t, next(), cells, ranks)
		if n != 0 || !slices.Equal(again, ranks) {
			t.Errorf("reload with consistent ranks updated %d rows; want 0", n)
		}
	})
	t.Run("new rows fit between", func(t *testing.T) {
		old := len(vals)
		for _, v := range []int64{-5, 5, 15, 15, 2995, 5000, 10, 7, 8, 9} {
			add(&v)
		}
		add(nil)
		stored := append(slices.Clone(ranks), none(len(vals)-old)...)
		got, n := c.loadRanked(t, next(), cells, stored)
		checkOrder(t, vals, got)
		if want := len(vals) - old; n != want {
			t.Errorf("rows updated = %d; want %d (the new rows only)", n, want)
		}
		ranks = got
	})
	t.Run("hostile ranks", func(t *testing.T) {
		stored := slices.Clone(ranks)
		for i := range stored {
			switch r.IntN(20) {
			case 0:
				stored[i] = -7
			case 1:
				stored[i] = 1 << 63 / 3 * 2
			case 2:
				stored[i] = ranks[r.IntN(len(ranks))]
			case 3:
				stored[i] = 3
			}
		}
		got, _ := c.loadRanked(t, next(), cells, stored)
		checkOrder(t, vals, got)
	})
	t.Run("gap runs out", func(t *testing.T) {
		// Dense stored ranks leave no room for a value in between: the
		// column is renumbered.
		var vs []*int64
		var cs [][]byte
		var stored []int64
		for i := range 50 {
			v := int64(2 * i)
			vs, cs, stored = append(vs, &v), append(cs, w.cell(t, intType, v)), append(stored, int64(i+1))
		}
		mid := int64(51)
		vs, cs, stored = append(vs, &mid), append(cs, w.cell(t, intType, mid)), append(stored, enclproto.NoRank)
		got, n := c.loadRanked(t, next(), cs, stored)
		checkOrder(t, vs, got)
		if n != len(cs) {
			t.Errorf("rows updated = %d; want all %d (renumbered)", n, len(cs))
		}
	})
	t.Run("rank ranges", func(t *testing.T) {
		name := next()
		final, _ := c.loadRanked(t, name, cells, ranks)
		for _, q := range []struct {
			q    string
			args []int64
			want func(v int64) bool
			many bool // too many matches to travel as positions
		}{
			{`SELECT * FROM t WHERE x = $1`, []int64{150}, func(v int64) bool { return v == 150 }, false},
			{`SELECT * FROM t WHERE x = $1`, []int64{151}, func(v int64) bool { return false }, false},
			{`SELECT * FROM t WHERE x <> $1`, []int64{150}, func(v int64) bool { return v != 150 }, true},
			{`SELECT * FROM t WHERE x < $1`, []int64{8}, func(v int64) bool { return v < 8 }, false},
			{`SELECT * FROM t WHERE x >= $1`, []int64{2990}, func(v int64) bool { return v >= 2990 }, false},
			{`SELECT * FROM t WHERE x >= $1`, []int64{1000}, func(v int64) bool { return v >= 1000 }, true},
			{`SELECT * FROM t WHERE x BETWEEN $1 AND $2`, []int64{7, 30}, func(v int64) bool { return v >= 7 && v <= 30 }, false},
			{`SELECT * FROM t WHERE x BETWEEN $1 AND $2`, []int64{7, 100}, func(v int64) bool { return v >= 7 && v <= 100 }, true},
			{`SELECT * FROM t WHERE x BETWEEN $1 AND $2`, []int64{7, 1000}, func(v int64) bool { return v >= 7 && v <= 1000 }, true},
			{`SELECT * FROM t WHERE x NOT BETWEEN $1 AND $2`, []int64{7, 100}, func(v int64) bool { return v < 7 || v > 100 }, true},
			{`SELECT * FROM t WHERE x IN ($1, $2, $3)`, []int64{15, 7, 3}, func(v int64) bool { return v == 15 || v == 7 || v == 3 }, false},
			{`SELECT * FROM t WHERE x NOT IN ($1, $2)`, []int64{15, 20}, func(v int64) bool { return v != 15 && v != 20 }, true},
		} {
			t.Run(fmt.Sprint(q.q, q.args), func(t *testing.T) {
				if err := c.open(c.seal(t, q.q, enclproto.CEK{Name: "CEK1", Key: w.cek}), q.q); err != nil {
					t.Fatal(err)
				}
				var args [][]byte
				for _, a := range q.args {
					args = append(args, w.cell(t, intType, a))
				}
				req := enclproto.EvalRequest{ClientKey: c.clientKey(), Query: q.q, Cache: name, CEK: "CEK1", Type: intType, Args: args}
				out, err := w.e.eval(context.Background(), req.Marshal())
				if err != nil {
					t.Fatal(err)
				}
				res, err := enclproto.ParseEvalResult(out)
				if err != nil {
					t.Fatal(err)
				}
				// Few matches come as positions, more as rank ranges.
				if want := q.many; (res.Kind == enclproto.ResultRankRanges) != want {
					t.Fatalf("eval on a ranked column answered kind %d; want rank ranges: %v", res.Kind, want)
				}
				for i, v := range vals {
					in := slices.Contains(res.Ranks, uint32(i))
					for _, rg := range res.Ranges {
						in = in || final[i] >= rg[0] && final[i] <= rg[1]
					}
					if want := v != nil && q.want(*v); in != want {
						t.Fatalf("row %d (%v, rank %d) in %v = %v; want %v", i, v, final[i], res.Ranges, in, want)
					}
				}
			})
		}
	})
	t.Run("batches must agree", func(t *testing.T) {
		name := next()
		first := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: name, CEK: "CEK1", Type: intType,
			Flags: enclproto.LoadFirst | enclproto.LoadRanked, Cells: cells[:10], Ranks: none(10)}
		if _, err := w.e.load(context.Background(), first.Marshal()); err != nil {
			t.Fatal(err)
		}
		second := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: name, CEK: "CEK1", Type: intType,
			Flags: enclproto.LoadLast, Cells: cells[10:20]}
		if _, err := w.e.load(context.Background(), second.Marshal()); err == nil {
			t.Error("a batch without ranks after a ranked first batch was accepted")
		}
	})
}
