package sqlenclave

import (
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
)

// TestTypeComparisons checks comparisons and ordering on the types whose
// order is not that of their normalised bytes, against a comparison of
// the Go values: decimal and money (as numbers), datetimeoffset (by UTC
// instant, whatever the offset) and uniqueidentifier (SQL Server's order,
// the last six bytes most significant).
func TestTypeComparisons(t *testing.T) {
	w := newWorld(t)
	c := w.attest(t)
	r := mrand.New(mrand.NewPCG(9, 10))
	rat := func(s string) *big.Rat { x, _ := new(big.Rat).SetString(s); return x }
	cmpRat := func(a, b any) int { return rat(a.(string)).Cmp(rat(b.(string))) }
	decimals := func(scale int) func() any {
		return func() any {
			n := r.Int64N(2_000_000) - 1_000_000
			if r.IntN(10) == 0 {
				n *= 1_000_000_000_000 // beyond 64 bits at scale 4
			}
			s := new(big.Rat).SetFrac(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
			return s.FloatString(scale)
		}
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600)}
	// guids lists uniqueidentifiers in SQL Server's ascending order: the
	// bytes of Guid.ToByteArray compared 10–15, 8–9, 6–7, 4–5, 0–3
	// (Data1–Data3 are little-endian in that array, Data4 as written).
	guids := []string{
		"00000000-0000-0000-0000-000000000000",
		"01000000-0000-0000-0000-000000000000", // byte 3
		"00000001-0000-0000-0000-000000000000", // byte 0
		"00000000-0100-0000-0000-000000000000", // byte 5
		"00000000-0001-0000-0000-000000000000", // byte 4
		"00000000-0000-0100-0000-000000000000", // byte 7
		"00000000-0000-0001-0000-000000000000", // byte 6
		"00000000-0000-0000-0001-000000000000", // byte 9
		"00000000-0000-0000-0100-000000000000", // byte 8
		"00000000-0000-0000-0000-000000000001", // byte 15
		"00000000-0000-0000-0000-000000000100", // byte 14
		"00000000-0000-0000-0000-010000000000", // byte 10
		"ffffffff-ffff-ffff-ffff-fffffffffffe",
		"ffffffff-ffff-ffff-ffff-ffffffffffff",
	}
	for _, tc := range []struct {
		name string
		typ  aesql.Type
		gen  func() any
		cmp  func(a, b any) int
	}{
		{"decimal(30,4)", aesql.Type{Kind: aesql.Decimal, Precision: 30, Scale: 4}, decimals(4), cmpRat},
		{"decimal(9,0)", aesql.Type{Kind: aesql.Decimal, Precision: 9, Scale: 0}, func() any { return fmt.Sprint(r.IntN(2_000_000) - 1_000_000) }, cmpRat},
		{"money", aesql.Type{Kind: aesql.Money}, func() any { return decimals(4)().(string) }, cmpRat},
		{"smallmoney", aesql.Type{Kind: aesql.SmallMoney}, func() any { return new(big.Rat).SetFrac64(r.Int64N(2_000_000)-1_000_000, 100).FloatString(2) }, cmpRat},
		{"datetimeoffset(7)", aesql.Type{Kind: aesql.DateTimeOffset, Scale: 7}, func() any {
			// Few distinct instants, many offsets: equal instants in other
			// zones must compare equal.
			base := time.Date(2020+r.IntN(3), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, time.UTC)
			return base.In(zones[r.IntN(len(zones))])
		}, func(a, b any) int { return a.(time.Time).Compare(b.(time.Time)) }},
		{"uniqueidentifier", aesql.Type{Kind: aesql.UniqueIdentifier}, func() any { return guids[r.IntN(len(guids))] },
			func(a, b any) int { return slices.Index(guids, a.(string)) - slices.Index(guids, b.(string)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 400
			vals := make([]any, n)
			cells := make([][]byte, n)
			for i := range vals {
				vals[i] = tc.gen()
				cells[i] = w.cell(t, tc.typ, vals[i])
			}
			cells[5] = nil // a NULL
			name := "t." + tc.name
			qs := []string{`SELECT * FROM t WHERE x < $1`, `SELECT * FROM t WHERE x = $1`, `SELECT * FROM t WHERE x BETWEEN $1 AND $2`, `SELECT * FROM t ORDER BY x`}
			for _, q := range qs {
				if err := c.open(c.seal(t, q, enclproto.CEK{Name: "CEK1", Key: w.cek}), q); err != nil {
					t.Fatal(err)
				}
			}
			req := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: name, CEK: "CEK1", Type: tc.typ, Flags: enclproto.LoadFirst | enclproto.LoadLast, Cells: cells}
			if _, err := w.e.load(t.Context(), req.Marshal()); err != nil {
				t.Fatal(err)
			}
			for k := range 5 {
				a, b := vals[r.IntN(n)], vals[r.IntN(n)]
				if tc.cmp(a, b) > 0 {
					a, b = b, a
				}
				for i, q := range qs[:3] {
					args := [][]byte{w.cell(t, tc.typ, a)}
					if i == 2 {
						args = append(args, w.cell(t, tc.typ, b))
					}
					got, err := c.eval(q, 0, name, "CEK1", tc.typ, args...)
					if err != nil {
						t.Fatal(err)
					}
					var want []uint32
					for j, v := range vals {
						if j == 5 {
							continue
						}
						ca, cb := tc.cmp(v, a), tc.cmp(v, b)
						if i == 0 && ca < 0 || i == 1 && ca == 0 || i == 2 && ca >= 0 && cb <= 0 {
							want = append(want, uint32(j))
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("probe %d: %s with %v, %v: %d rows; want %d", k, q, a, b, len(got), len(want))
					}
				}
			}
			ranks, err := c.eval(qs[3], 0, name, "CEK1", tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				for j := range n {
					if i == 5 || j == 5 {
						continue
					}
					if c := tc.cmp(vals[i], vals[j]); (c < 0) != (ranks[i] < ranks[j]) || (c == 0) != (ranks[i] == ranks[j]) {
						t.Fatalf("%v and %v rank %d and %d", vals[i], vals[j], ranks[i], ranks[j])
					}
				}
			}
		})
	}
}
