package hashchain

import (
	"errors"
	"fmt"
	"testing"
)

func chain(n int) []Record {
	var out []Record
	var last *Record
	for i := 0; i < n; i++ {
		r := Next(last, []byte(fmt.Sprintf(`{"i":%d}`, i)))
		out = append(out, r)
		last = &out[len(out)-1]
	}
	return out
}

func TestVerify(t *testing.T) {
	if err := Verify(chain(5)); err != nil {
		t.Fatalf("Verify(valid chain) = %v; want nil", err)
	}
	if err := Verify(nil); err != nil {
		t.Fatalf("Verify(nil) = %v; want nil", err)
	}
	tests := []struct {
		name    string
		mutate  func([]Record) []Record
		wantSeq uint64
	}{
		{"payload edited", func(r []Record) []Record { r[2].Payload = []byte(`{"i":99}`); return r }, 3},
		{"record removed", func(r []Record) []Record { return append(r[:1], r[2:]...) }, 2},
		{"records swapped", func(r []Record) []Record { r[3], r[4] = r[4], r[3]; return r }, 4},
		{"hash forged", func(r []Record) []Record { r[0].Hash[0] ^= 1; return r }, 1},
		{"relinked after edit", func(r []Record) []Record {
			r[1].Payload = []byte("x")
			r[1].Hash = Link(r[1].Prev, r[1].Seq, r[1].Payload)
			return r
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.mutate(chain(5)))
			var be *BreakError
			if !errors.As(err, &be) || !errors.Is(err, ErrBroken) {
				t.Fatalf("Verify() = %v; want *BreakError", err)
			}
			if be.Seq != tc.wantSeq {
				t.Errorf("Verify() break at %d; want %d", be.Seq, tc.wantSeq)
			}
		})
	}
}
