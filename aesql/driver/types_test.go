package driver_test

import (
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/confide-dev/confide/aesql/server/servertest"
)

const typedDDL = `CREATE TABLE Typed (
	Id int NOT NULL,
	Amount decimal(18,2) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	Price money ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	Seen datetimeoffset ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
	Tag uniqueidentifier ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')
)`

type typedRow struct {
	id     int64
	amount string
	price  string
	seen   time.Time
	tag    string
}

// TestTypedColumns runs enclave comparisons, ORDER BY and GROUP BY on
// randomized decimal, money, datetimeoffset and uniqueidentifier
// columns, without and with indexes.
func TestTypedColumns(t *testing.T) { typedColumns(t, servertest.Options{}) }

func typedColumns(t *testing.T, o servertest.Options) {
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			w := setupWith(t, 10, o)
			if _, err := w.plain.Exec(typedDDL); err != nil {
				t.Fatal(err)
			}
			if indexed {
				for _, c := range []string{"Amount", "Price", "Seen", "Tag"} {
					if _, err := w.plain.Exec(fmt.Sprintf(`CREATE INDEX ix_%s ON Typed (%s)`, c, c)); err != nil {
						t.Fatal(err)
					}
				}
			}
			east := time.FixedZone("", 2*3600)
			// In SQL Server's order (the last six bytes most significant,
			// the first four least).
			tags := []string{"02000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000100", "00000000-0000-0000-0000-010000000000"}
			var rows []typedRow
			for i := range 60 {
				r := typedRow{
					id:     int64(i),
					amount: new(big.Rat).SetFrac64(int64((i*7919)%4001-2000), 100).FloatString(2),
					price:  new(big.Rat).SetFrac64(int64((i*31)%17-8), 4).FloatString(4),
					seen:   time.Date(2024, 1, 1+i%5, 12, 0, 0, 0, time.UTC),
					tag:    tags[i%len(tags)],
				}
				if i%2 == 1 {
					r.seen = r.seen.In(east) // the same instants, another offset
				}
				rows = append(rows, r)
				if _, err := w.enc.Exec(`INSERT INTO Typed (Id, Amount, Price, Seen, Tag) VALUES ($1, $2, $3, $4, $5)`, r.id, r.amount, r.price, r.seen, r.tag); err != nil {
					t.Fatal(err)
				}
			}
			rat := func(s string) *big.Rat { x, _ := new(big.Rat).SetString(s); return x }
			where := func(keep func(r typedRow) bool) []int64 {
				var out []int64
				for _, r := range rows {
					if keep(r) {
						out = append(out, r.id)
					}
				}
				return out
			}
			day3 := time.Date(2024, 1, 3, 14, 0, 0, 0, east) // 12:00 UTC
			for _, c := range []struct {
				name string
				q    string
				args []any
				want []int64
			}{
				{"decimal between", `SELECT Id FROM Typed WHERE Amount BETWEEN $1 AND $2`, []any{"-5.50", "7.25"},
					where(func(r typedRow) bool {
						return rat(r.amount).Cmp(rat("-5.50")) >= 0 && rat(r.amount).Cmp(rat("7.25")) <= 0
					})},
				{"money >", `SELECT Id FROM Typed WHERE Price > $1`, []any{"-0.75"}, where(func(r typedRow) bool { return rat(r.price).Cmp(rat("-0.75")) > 0 })},
				{"datetimeoffset = across offsets", `SELECT Id FROM Typed WHERE Seen = $1`, []any{day3}, where(func(r typedRow) bool { return r.seen.Equal(day3) })},
				{"uniqueidentifier <", `SELECT Id FROM Typed WHERE Tag < $1`, []any{tags[2]}, where(func(r typedRow) bool { return r.tag == tags[0] || r.tag == tags[1] })},
			} {
				t.Run(c.name, func(t *testing.T) {
					if got := sorted(ids(t, w.enc, c.q, c.args...)); !slices.Equal(got, c.want) {
						t.Errorf("%s %v = %v; want %v", c.q, c.args, got, c.want)
					}
				})
			}
			t.Run("order by decimal desc", func(t *testing.T) {
				want := where(func(typedRow) bool { return true })
				slices.SortFunc(want, func(a, b int64) int {
					if c := rat(rows[b].amount).Cmp(rat(rows[a].amount)); c != 0 {
						return c
					}
					return int(a - b)
				})
				if got := ids(t, w.enc, `SELECT Id FROM Typed ORDER BY Amount DESC, Id`); !slices.Equal(got, want) {
					t.Errorf("ORDER BY Amount DESC = %v; want %v", got, want)
				}
			})
			t.Run("group by uniqueidentifier and datetimeoffset", func(t *testing.T) {
				got := map[string]int64{}
				r, err := w.enc.Query(`SELECT Tag, count(*) FROM Typed GROUP BY Tag ORDER BY Tag`)
				if err != nil {
					t.Fatal(err)
				}
				var order []string
				for r.Next() {
					var tag []byte
					var n int64
					if err := r.Scan(&tag, &n); err != nil {
						t.Fatal(err)
					}
					s := fmt.Sprintf("%x-%x-%x-%x-%x", tag[0:4], tag[4:6], tag[6:8], tag[8:10], tag[10:16])
					got[s] = n
					order = append(order, s)
				}
				r.Close()
				if !slices.Equal(order, tags) || len(got) != 4 || got[tags[0]] != 15 {
					t.Errorf("GROUP BY Tag ORDER BY Tag = %v %v; want %v, 15 each", order, got, tags)
				}
				r, err = w.enc.Query(`SELECT Seen, count(*) FROM Typed GROUP BY Seen`)
				if err != nil {
					t.Fatal(err)
				}
				groups := 0
				for r.Next() {
					var s time.Time
					var n int64
					if err := r.Scan(&s, &n); err != nil {
						t.Fatal(err)
					}
					if groups++; n != 12 {
						t.Errorf("group %v has %d rows; want 12 (two offsets of one instant)", s, n)
					}
				}
				r.Close()
				if groups != 5 {
					t.Errorf("GROUP BY Seen gave %d groups; want 5", groups)
				}
			})
		})
	}
}
