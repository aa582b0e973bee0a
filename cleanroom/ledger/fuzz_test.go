package ledger_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/synth"
)

// FuzzReader is seeded with real generator output (both banks' tables,
// including planted fraud and marker memos) and hand-made edge cases.
func FuzzReader(f *testing.F) {
	var a, b bytes.Buffer
	if _, err := synth.Generate(synth.Config{Seed: 1, Transactions: 300, Customers: 60}, &a, &b); err != nil {
		f.Fatal(err)
	}
	f.Add(a.String())
	f.Add(b.String())
	hdr := strings.Join(ledger.Columns(), ",") + "\n"
	f.Add(hdr + "t1,1700000000,BANKA-1,BANKB-2,100,EUR,transfer,\"a,\"\"b\"\"\",0\n")
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ledger.NewReader(strings.NewReader(in)).ReadAll()
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := ledger.NewWriter(&buf)
		for i := range rows {
			if err := w.Write(&rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := ledger.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("re-read of written table: %v", err)
		}
		if len(again) != len(rows) {
			t.Fatalf("re-read %d rows; want %d", len(again), len(rows))
		}
		for i := range rows {
			if again[i] != rows[i] {
				t.Fatalf("row %d = %+v after a round trip; want %+v", i, again[i], rows[i])
			}
		}
	})
}
