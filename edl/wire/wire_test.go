package wire

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

var errBase = errors.New("base")

func TestRoundTrip(t *testing.T) {
	var w Writer
	w.U8(0xab)
	w.U16(0x1234)
	w.U32(0xdeadbeef)
	w.U64(math.MaxUint64 - 1)
	w.F32(1.5)
	w.F64(-2.25)
	w.Bool(true)
	w.Blob([]byte("xyz"))
	w.Raw([]byte{9, 8})
	if err := w.String(errBase, "héllo"); err != nil {
		t.Fatal(err)
	}
	if err := w.WString(errBase, "w✓"); err != nil {
		t.Fatal(err)
	}
	r := NewReader(w.Bytes(), errBase)
	raw := make([]byte, 2)
	got := []any{r.U8(), r.U16(), r.U32(), r.U64(), r.F32(), r.F64(), r.Bool(), string(r.Blob())}
	r.Raw(raw)
	got = append(got, raw[0], raw[1], r.String(), r.WString())
	want := []any{uint8(0xab), uint16(0x1234), uint32(0xdeadbeef), uint64(math.MaxUint64 - 1), float32(1.5), -2.25, true, "xyz", byte(9), byte(8), "héllo", "w✓"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %v; want %v", i, got[i], want[i])
		}
	}
	if err := r.Done(); err != nil {
		t.Fatalf("Done() = %v; want nil", err)
	}
}

func TestLayout(t *testing.T) {
	// spec/edl.md: little-endian, uint64 lengths before data, strings
	// counted with their NUL.
	var w Writer
	w.U32(1)
	w.Blob([]byte{0xaa})
	_ = w.String(nil, "a")
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0, 0, 0, 'a', 0}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("encoding = %x; want %x", w.Bytes(), want)
	}
}

func TestReaderRejects(t *testing.T) {
	u64 := func(v uint64) []byte {
		var w Writer
		w.U64(v)
		return w.Bytes()
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		read func(r *Reader)
	}{
		{"truncated u32", []byte{1, 2, 3}, func(r *Reader) { r.U32() }},
		{"trailing", []byte{1, 2}, func(r *Reader) { r.U8() }},
		{"bool 2", []byte{2}, func(r *Reader) { r.Bool() }},
		{"blob beyond end", cat(u64(5), []byte("abc")), func(r *Reader) { r.Blob() }},
		{"blob huge length", cat(u64(math.MaxUint64), []byte("abc")), func(r *Reader) { r.Blob() }},
		{"count overflow", cat(u64(1<<61), make([]byte, 16)), func(r *Reader) { r.Count(8) }},
		{"out length over limit", u64(MaxAlloc/4 + 1), func(r *Reader) { r.OutLen(4) }},
		{"string no NUL", cat(u64(2), []byte("ab")), func(r *Reader) { _ = r.String() }},
		{"string empty bound", u64(0), func(r *Reader) { _ = r.String() }},
		{"string inner NUL", cat(u64(3), []byte("a\x00\x00")), func(r *Reader) { _ = r.String() }},
		{"wstring no NUL", cat(u64(1), []byte{'a', 0, 0, 0}), func(r *Reader) { r.WString() }},
		{"wstring beyond rune range", cat(u64(2), []byte{0, 0, 0x11, 0, 0, 0, 0, 0}), func(r *Reader) { r.WString() }},
		{"blobinto wrong length", cat(u64(3), []byte("abc")), func(r *Reader) { r.BlobInto(make([]byte, 2)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in, errBase)
			tt.read(r)
			err := r.Done()
			var we *Error
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, errBase) || !errors.As(err, &we) {
				t.Fatalf("Done() = %v; want *Error wrapping ErrMalformed and the base", err)
			}
			if we.Offset < 0 || we.Offset > len(tt.in) {
				t.Fatalf("offset %d outside the buffer of %d bytes", we.Offset, len(tt.in))
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	var w Writer
	if err := w.String(errBase, "a\x00"); !errors.Is(err, ErrMismatch) || !errors.Is(err, errBase) {
		t.Errorf("String(NUL) = %v; want ErrMismatch", err)
	}
	if err := w.WString(errBase, "\x00"); !errors.Is(err, ErrMismatch) {
		t.Errorf("WString(NUL) = %v; want ErrMismatch", err)
	}
	if len(w.Bytes()) != 0 {
		t.Errorf("rejected strings wrote %d bytes; want 0", len(w.Bytes()))
	}
}

func TestCalc(t *testing.T) {
	tests := []struct {
		name string
		f    func(c *Calc) uint64
		want uint64
		ok   bool
	}{
		{"mul", func(c *Calc) uint64 { return c.Mul(Num(c, int32(3)), 4) }, 12, true},
		{"mul overflow", func(c *Calc) uint64 { return c.Mul(1<<32, 1<<32) }, 0, false},
		{"add overflow", func(c *Calc) uint64 { return c.Add(math.MaxUint64, 1) }, 0, false},
		{"sub underflow", func(c *Calc) uint64 { return c.Sub(1, 2) }, 0, false},
		{"div by zero", func(c *Calc) uint64 { return c.Div(1, 0) }, 0, false},
		{"negative", func(c *Calc) uint64 { return Num(c, int64(-1)) }, 0, false},
		{"expression", func(c *Calc) uint64 { return c.Add(c.Mul(Num(c, uint16(5)), 2), 1) }, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Calc
			got := tt.f(&c)
			if c.OK() != tt.ok || tt.ok && got != tt.want {
				t.Fatalf("got %d, ok %v (%s); want %d, ok %v", got, c.OK(), c.Reason(), tt.want, tt.ok)
			}
		})
	}
}

// FuzzReader interprets the first bytes as a program of reads over the rest
// and checks that no read panics, reads past the buffer, or allocates more
// than the buffer justifies.
func FuzzReader(f *testing.F) {
	var w Writer
	w.U32(7)
	w.Blob([]byte("seed"))
	_ = w.String(nil, "path/to/file")
	_ = w.WString(nil, "wide")
	w.U64(4096)
	f.Add([]byte{2, 7, 8, 9, 6}, w.Bytes())
	f.Add([]byte{0, 1, 2, 3, 4, 5}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Fuzz(func(t *testing.T, prog, data []byte) {
		r := NewReader(data, errBase)
		for _, op := range prog {
			before := r.Remaining()
			switch op % 12 {
			case 0:
				r.U8()
			case 1:
				r.U16()
			case 2:
				r.U32()
			case 3:
				r.U64()
			case 4:
				r.Bool()
			case 5:
				if n := r.Count(4); n*4 > before {
					t.Fatalf("Count(4) = %d with %d bytes left", n, before)
				}
			case 6:
				if n := r.OutLen(8); n*8 > MaxAlloc {
					t.Fatalf("OutLen(8) = %d", n)
				}
			case 7:
				if b := r.Blob(); len(b) > before {
					t.Fatalf("Blob of %d bytes from %d", len(b), before)
				}
			case 8:
				if s := r.String(); len(s) > before {
					t.Fatalf("String of %d bytes from %d", len(s), before)
				}
			case 9:
				r.WString()
			case 10:
				r.Raw(make([]byte, int(op%7)))
			case 11:
				r.BlobInto(make([]byte, int(op%5)))
			}
			if r.Remaining() < 0 || r.Remaining() > before {
				t.Fatalf("Remaining went from %d to %d", before, r.Remaining())
			}
		}
		if err := r.Done(); err != nil && (!errors.Is(err, ErrMalformed) || !errors.Is(err, errBase)) {
			t.Fatalf("Done() = %v; want ErrMalformed wrapping base", err)
		}
	})
}
