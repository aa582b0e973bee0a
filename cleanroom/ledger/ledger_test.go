package ledger

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const hdr = "id,time,from,to,amount,currency,channel,memo,fraud\n"

func TestRoundTrip(t *testing.T) {
	in := []Transaction{
		{ID: "t1", Time: 1700000000, From: "BANKA-1", To: "BANKB-2", Amount: 12345, Currency: "EUR", Channel: "transfer", Memo: `rent, "june"`},
		{ID: "t2", Time: 1700000060, From: "BANKB-2", To: "EXT-9", Amount: 1, Currency: "EUR", Channel: "card", Memo: "", Fraud: true},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range in {
		if err := w.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), hdr) {
		t.Errorf("table starts %q; want header %q", buf.String()[:20], hdr)
	}
	got, err := NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, got); d != "" {
		t.Errorf("ReadAll(Write(in)) differs (-want +got):\n%s", d)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"wrong header", "id,time\n"},
		{"renamed column", strings.Replace(hdr, "memo", "note", 1)},
		{"short row", hdr + "t1,1,A-1,B-1,5,EUR,card,m\n"},
		{"long row", hdr + "t1,1,A-1,B-1,5,EUR,card,m,0,extra\n"},
		{"bad time", hdr + "t1,x,A-1,B-1,5,EUR,card,m,0\n"},
		{"negative time", hdr + "t1,-1,A-1,B-1,5,EUR,card,m,0\n"},
		{"zero amount", hdr + "t1,1,A-1,B-1,0,EUR,card,m,0\n"},
		{"bad fraud", hdr + "t1,1,A-1,B-1,5,EUR,card,m,yes\n"},
		{"empty id", hdr + ",1,A-1,B-1,5,EUR,card,m,0\n"},
		{"empty account", hdr + "t1,1,,B-1,5,EUR,card,m,0\n"},
		{"oversized memo", hdr + "t1,1,A-1,B-1,5,EUR,card," + strings.Repeat("m", MaxField+1) + ",0\n"},
		{"newline in memo", hdr + "t1,1,A-1,B-1,5,EUR,card,\"a\nb\",0\n"},
		{"bare quote", hdr + "t1,1,A-1,B-1,5,EUR,card,a\"b,0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.in)).ReadAll()
			if !errors.Is(err, ErrFormat) {
				t.Errorf("ReadAll(%s) = %v; want ErrFormat", tt.name, err)
			}
		})
	}
}

func TestBank(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"BANKA-000123", "BANKA"}, {"EXT-1", "EXT"}, {"nodash", ""}, {"-x", ""}} {
		if got := Bank(tt.in); got != tt.want {
			t.Errorf("Bank(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	for _, memo := range []string{"a\nb", "a\rb", strings.Repeat("m", MaxField+1)} {
		w := NewWriter(&bytes.Buffer{})
		if err := w.Write(&Transaction{ID: "t", From: "A-1", To: "B-1", Amount: 1, Memo: memo}); !errors.Is(err, ErrFormat) {
			t.Errorf("Write(memo %q) = %v; want ErrFormat", memo, err)
		}
	}
}
