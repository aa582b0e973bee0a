package rttest

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/confide-dev/confide/edl/wire"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/host"
)

// impl implements both Trusted and Untrusted and records calls.
type impl struct {
	calls int
}

func (m *impl) EchoString(ctx context.Context, s string, out []byte, n uint64) (int32, error) {
	m.calls++
	return int32(copy(out, s)), nil
}

func (m *impl) InoutBuffer(ctx context.Context, buf []byte, n uint64) error {
	m.calls++
	for i := range buf {
		buf[i] ^= 0xff
	}
	return nil
}

func (m *impl) FillBuffer(ctx context.Context, buf []byte, n uint64) error {
	m.calls++
	for i := range buf {
		buf[i] = byte(i)
	}
	return nil
}

func (m *impl) SumPoints(ctx context.Context, pts []PointT, n uint64, total *int64) (uint64, error) {
	m.calls++
	var s int64
	for _, p := range pts {
		s += int64(p.X) + int64(p.Y)
	}
	if total != nil {
		*total = s
	}
	return uint64(len(pts)), nil
}

func (m *impl) ScalePoints(ctx context.Context, pts []PointT, rows, cols uint32, factor int32) error {
	m.calls++
	for i := range pts {
		pts[i].X *= factor
		pts[i].Y *= factor
	}
	return nil
}

func (m *impl) NextColor(ctx context.Context, c ColorT, wrap bool) (ColorT, error) {
	m.calls++
	switch c {
	case Red:
		return Green, nil
	case Green:
		return Blue, nil
	}
	if wrap {
		return Red, nil
	}
	return c, nil
}

func (m *impl) Wide(ctx context.Context, w string, runes *uint64) error {
	m.calls++
	if runes != nil {
		*runes = uint64(len([]rune(w)))
	}
	return nil
}

func (m *impl) TakeBlob(ctx context.Context, b *BlobT, cp *BlobT) error {
	m.calls++
	if b != nil && cp != nil {
		*cp = BlobT{Data: append([]byte(nil), b.Data...), Len: b.Len, Cookie: b.Cookie + 1}
	}
	return nil
}

func (m *impl) Handle(ctx context.Context, p uintptr, key *[4]uint8, vals *[2]float64) error {
	m.calls++
	if vals != nil && key != nil {
		vals[0] = float64(p)
		vals[1] = float64(key[3])
	}
	return nil
}

func (m *impl) Halve(ctx context.Context, f float32, d float64, counter *int32) (float32, error) {
	m.calls++
	if counter != nil {
		*counter++
	}
	return f / 2, nil
}

func (m *impl) HostOpen(ctx context.Context, path string, flags int32) (int32, int32, error) {
	m.calls++
	if path == "/missing" {
		return -1, 2, nil // ENOENT
	}
	return 7, 0, nil
}

func (m *impl) HostLog(ctx context.Context, msg []byte, n uint64) error {
	m.calls++
	return nil
}

func (m *impl) HostAlloc(ctx context.Context, size uint64) (uintptr, error) {
	m.calls++
	return uintptr(0x1000 + size), nil
}

var (
	_ Trusted   = (*impl)(nil)
	_ Untrusted = (*impl)(nil)
)

// ecallVia returns a transport that dispatches to the generated ecall table,
// as the runtime would on the enclave side.
func ecallVia(m *impl) func(context.Context, uint32, []byte) ([]byte, error) {
	table := Ecalls(m)
	return func(ctx context.Context, fn uint32, in []byte) ([]byte, error) { return table[fn](ctx, in) }
}

func ocallVia(m *impl) func(context.Context, uint32, []byte) ([]byte, error) {
	table := Ocalls(m)
	return func(ctx context.Context, fn uint32, in []byte) ([]byte, error) { return table[fn](ctx, in) }
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	m := &impl{}
	call := ecallVia(m)
	base := host.ErrInvalidParameter

	t.Run("string and out buffer", func(t *testing.T) {
		out := make([]byte, 5)
		n, err := xcallEchoString(ctx, call, base, "hello", out, 5)
		if err != nil || n != 5 || string(out) != "hello" {
			t.Fatalf("EchoString(hello) = %d, %q, %v; want 5, hello, nil", n, out, err)
		}
	})
	t.Run("in out buffer", func(t *testing.T) {
		buf := []byte{1, 2, 3}
		if err := xcallInoutBuffer(ctx, call, base, buf, 3); err != nil || !bytes.Equal(buf, []byte{0xfe, 0xfd, 0xfc}) {
			t.Fatalf("InoutBuffer = %x, %v; want fefdfc, nil", buf, err)
		}
	})
	t.Run("struct slices", func(t *testing.T) {
		pts := []PointT{{X: 1, Y: 2, Color: Red, Label: [8]byte{'a'}, Grid: [2][3]uint16{{1, 2, 3}, {4, 5, 6}}}, {X: -3, Y: 10, Color: Blue}}
		var total int64
		n, err := xcallSumPoints(ctx, call, base, pts, 2, &total)
		if err != nil || n != 2 || total != 10 {
			t.Fatalf("SumPoints = %d, %d, %v; want 2, 10, nil", n, total, err)
		}
		if err := xcallScalePoints(ctx, call, base, pts, 1, 2, 3); err != nil || pts[0].X != 3 || pts[1].Y != 30 || pts[0].Grid[1][2] != 6 || pts[0].Label[0] != 'a' {
			t.Fatalf("ScalePoints = %+v, %v; want X*3, Y*3, other fields kept", pts, err)
		}
	})
	t.Run("enum and bool", func(t *testing.T) {
		c, err := xcallNextColor(ctx, call, base, Blue, true)
		if err != nil || c != Red {
			t.Fatalf("NextColor(Blue, true) = %v, %v; want Red (1), nil", c, err)
		}
		if Blue != 4 {
			t.Fatalf("Blue = %d; want 4 (RED + 3)", Blue)
		}
	})
	t.Run("wstring", func(t *testing.T) {
		var runes uint64
		if err := xcallWide(ctx, call, base, "héllo, 世界", &runes); err != nil || runes != 9 {
			t.Fatalf("Wide = %d, %v; want 9, nil", runes, err)
		}
	})
	t.Run("struct with pointer member", func(t *testing.T) {
		var cp BlobT
		in := &BlobT{Data: []byte("abc"), Len: 3, Cookie: 41}
		if err := xcallTakeBlob(ctx, call, base, in, &cp); err != nil || string(cp.Data) != "abc" || cp.Cookie != 42 {
			t.Fatalf("TakeBlob = %+v, %v; want abc, cookie 42", cp, err)
		}
	})
	t.Run("handle and arrays", func(t *testing.T) {
		var vals [2]float64
		if err := xcallHandle(ctx, call, base, 99, &[4]uint8{0, 0, 0, 5}, &vals); err != nil || vals != [2]float64{99, 5} {
			t.Fatalf("Handle = %v, %v; want [99 5], nil", vals, err)
		}
	})
	t.Run("floats and in out pointer", func(t *testing.T) {
		c := int32(1)
		f, err := xcallHalve(ctx, call, base, 3, math.Pi, &c)
		if err != nil || f != 1.5 || c != 2 {
			t.Fatalf("Halve(3) = %v, counter %d, %v; want 1.5, 2, nil", f, c, err)
		}
		if _, err := xcallHalve(ctx, call, base, 3, 0, nil); err != nil {
			t.Fatalf("Halve with nil pointer = %v; want nil", err)
		}
	})
	t.Run("errno", func(t *testing.T) {
		oc := ocallVia(m)
		fd, errno, err := xcallHostOpen(ctx, oc, enclave.ErrInvalidParameter, "/missing", 0)
		if err != nil || fd != -1 || errno != 2 {
			t.Fatalf("HostOpen(/missing) = %d, errno %d, %v; want -1, 2, nil", fd, errno, err)
		}
		p, err := xcallHostAlloc(ctx, oc, enclave.ErrInvalidParameter, 16)
		if err != nil || p != 0x1010 {
			t.Fatalf("HostAlloc(16) = %#x, %v; want 0x1010", p, err)
		}
	})
}

func TestCallerRejectsInconsistentArguments(t *testing.T) {
	ctx := context.Background()
	m := &impl{}
	call := ecallVia(m)
	tests := []struct {
		name string
		call func() error
	}{
		{"out buffer shorter than size", func() error {
			_, err := xcallEchoString(ctx, call, host.ErrInvalidParameter, "x", make([]byte, 2), 3)
			return err
		}},
		{"count product differs", func() error {
			return xcallScalePoints(ctx, call, host.ErrInvalidParameter, make([]PointT, 5), 2, 3, 1)
		}},
		{"string with NUL", func() error {
			_, err := xcallEchoString(ctx, call, host.ErrInvalidParameter, "a\x00b", nil, 0)
			return err
		}},
		{"wstring with invalid UTF-8", func() error {
			return xcallWide(ctx, call, host.ErrInvalidParameter, "\xff", nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, wire.ErrMismatch) || !errors.Is(err, host.ErrInvalidParameter) {
				t.Fatalf("err = %v; want wire.ErrMismatch and host.ErrInvalidParameter", err)
			}
		})
	}
	if m.calls != 0 {
		t.Fatalf("impl called %d times; want 0", m.calls)
	}
}

// req builds a raw request as a hostile peer would.
func req(f func(w *wire.Writer)) []byte {
	var w wire.Writer
	f(&w)
	return w.Bytes()
}

func TestHostilePeer(t *testing.T) {
	ctx := context.Background()
	point := func(w *wire.Writer) {
		w.U32(1)
		w.U32(2)
		w.U32(1)
		w.Raw(make([]byte, 8))
		w.Raw(make([]byte, 12))
	}
	tests := []struct {
		name string
		fn   uint32
		in   []byte
	}{
		{"empty buffer for string", xecallEchoString, nil},
		{"string without NUL", xecallEchoString, req(func(w *wire.Writer) { w.Len(3); w.Raw([]byte("abc")); w.Len(0); w.U64(0) })},
		{"string with early NUL", xecallEchoString, req(func(w *wire.Writer) { w.Len(3); w.Raw([]byte("a\x00\x00")); w.Len(0); w.U64(0) })},
		{"string length beyond buffer", xecallEchoString, req(func(w *wire.Writer) { w.Len(100); w.Raw([]byte("ab\x00")) })},
		{"string length huge", xecallEchoString, req(func(w *wire.Writer) { w.U64(math.MaxUint64); w.Raw([]byte("ab\x00")) })},
		{"out size differs from n", xecallEchoString, req(func(w *wire.Writer) { w.Len(2); w.Raw([]byte("a\x00")); w.Len(10); w.U64(11) })},
		{"out size over limit", xecallFillBuffer, req(func(w *wire.Writer) { w.U64(wire.MaxAlloc + 1); w.U64(wire.MaxAlloc + 1) })},
		{"in buffer shorter than n", xecallInoutBuffer, req(func(w *wire.Writer) { w.Blob([]byte{1, 2}); w.U64(3) })},
		{"in buffer truncated", xecallInoutBuffer, req(func(w *wire.Writer) { w.Len(4); w.Raw([]byte{1, 2}) })},
		{"trailing bytes", xecallInoutBuffer, req(func(w *wire.Writer) { w.Blob([]byte{1}); w.U64(1); w.U8(0) })},
		{"count overflows", xecallSumPoints, req(func(w *wire.Writer) { w.U64(1 << 62); point(w); w.U64(1 << 62); w.U8(1) })},
		{"count times size beyond buffer", xecallSumPoints, req(func(w *wire.Writer) { w.U64(3); point(w); w.U64(3); w.U8(1) })},
		{"count differs from n", xecallSumPoints, req(func(w *wire.Writer) { w.U64(1); point(w); w.U64(2); w.U8(1) })},
		{"product differs", xecallScalePoints, req(func(w *wire.Writer) { w.U64(1); point(w); w.U32(1 << 31); w.U32(1 << 31); w.U32(1) })},
		{"enum out of range in struct", xecallSumPoints, req(func(w *wire.Writer) {
			w.U64(1)
			w.U32(1)
			w.U32(2)
			w.U32(3)
			w.Raw(make([]byte, 20))
			w.U64(1)
			w.U8(0)
		})},
		{"enum out of range", xecallNextColor, req(func(w *wire.Writer) { w.U32(7); w.U8(0) })},
		{"bool not 0 or 1", xecallNextColor, req(func(w *wire.Writer) { w.U32(1); w.U8(2) })},
		{"wstring without NUL", xecallWide, req(func(w *wire.Writer) { w.Len(1); w.U32('a'); w.U8(0) })},
		{"wstring surrogate", xecallWide, req(func(w *wire.Writer) { w.Len(2); w.U32(0xd800); w.U32(0); w.U8(0) })},
		{"struct member length differs", xecallTakeBlob, req(func(w *wire.Writer) { w.U8(1); w.Blob([]byte("abc")); w.U64(4); w.U64(0); w.U8(1) })},
		{"presence byte 2", xecallTakeBlob, req(func(w *wire.Writer) { w.U8(2) })},
		{"array truncated", xecallHandle, req(func(w *wire.Writer) { w.U64(0); w.U8(1); w.Raw([]byte{1, 2}) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &impl{}
			_, err := Ecalls(m)[tt.fn](ctx, tt.in)
			if !errors.Is(err, enclave.ErrInvalidParameter) || !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("ecall %d(%x) err = %v; want enclave.ErrInvalidParameter and wire.ErrMalformed", tt.fn, tt.in, err)
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("err = %T; want *wire.Error", err)
			}
			if m.calls != 0 {
				t.Fatalf("implementation ran %d times on a rejected buffer; want 0", m.calls)
			}
		})
	}
}

// TestHostileResponses feeds callers responses that a hostile callee could
// return: the enclave checks what the host returns from ocalls, and the host
// checks what the enclave returns from ecalls.
func TestHostileResponses(t *testing.T) {
	ctx := context.Background()
	reply := func(b []byte) func(context.Context, uint32, []byte) ([]byte, error) {
		return func(context.Context, uint32, []byte) ([]byte, error) { return b, nil }
	}
	tests := []struct {
		name string
		base error
		call func(xcall func(context.Context, uint32, []byte) ([]byte, error)) error
	}{
		{"ocall errno missing", enclave.ErrInvalidParameter, func(x func(context.Context, uint32, []byte) ([]byte, error)) error {
			_, _, err := xcallHostOpen(ctx, x, enclave.ErrInvalidParameter, "/a", 0)
			return err
		}},
		{"out buffer longer than caller's", host.ErrInvalidParameter, func(x func(context.Context, uint32, []byte) ([]byte, error)) error {
			return xcallFillBuffer(ctx, reply(req(func(w *wire.Writer) { w.Blob(make([]byte, 5)) })), host.ErrInvalidParameter, make([]byte, 4), 4)
		}},
		{"out pointer present when not requested", host.ErrInvalidParameter, func(x func(context.Context, uint32, []byte) ([]byte, error)) error {
			_, err := xcallSumPoints(ctx, reply(req(func(w *wire.Writer) { w.U64(0); w.U8(1); w.U64(5) })), host.ErrInvalidParameter, nil, 0, nil)
			return err
		}},
		{"in out slice count differs", host.ErrInvalidParameter, func(x func(context.Context, uint32, []byte) ([]byte, error)) error {
			return xcallScalePoints(ctx, reply(req(func(w *wire.Writer) { w.U64(2) })), host.ErrInvalidParameter, nil, 0, 0, 1)
		}},
		{"trailing bytes", host.ErrInvalidParameter, func(x func(context.Context, uint32, []byte) ([]byte, error)) error {
			_, err := xcallNextColor(ctx, reply([]byte{1, 0, 0, 0, 9}), host.ErrInvalidParameter, Red, false)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(reply(nil))
			if !errors.Is(err, tt.base) || !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("err = %v; want %v and wire.ErrMalformed", err, tt.base)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	// Declaration order in rt.edl, trusted and untrusted numbered separately.
	want := map[string][2]uint32{
		"echo_string": {xecallEchoString, 0}, "halve": {xecallHalve, 9},
		"host_open": {xocallHostOpen, 0}, "host_alloc": {xocallHostAlloc, 2},
	}
	for name, p := range want {
		if p[0] != p[1] {
			t.Errorf("ID of %s = %d; want %d", name, p[0], p[1])
		}
	}
	if got := len(Ecalls(&impl{})); got != 10 {
		t.Errorf("len(Ecalls) = %d; want 10", got)
	}
	if got := len(Ocalls(&impl{})); got != 3 {
		t.Errorf("len(Ocalls) = %d; want 3", got)
	}
}

func TestImplErrorPassesThrough(t *testing.T) {
	sentinel := errors.New("boom")
	_, err := xserveHostLog(context.Background(), req(func(w *wire.Writer) { w.Blob([]byte("hi")); w.U64(2) }), host.ErrInvalidParameter,
		func(context.Context, []byte, uint64) error { return sentinel })
	if err != sentinel {
		t.Fatalf("err = %v; want the implementation's error, unchanged", err)
	}
}
