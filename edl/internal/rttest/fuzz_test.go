package rttest

import (
	"context"
	"errors"
	"testing"

	"github.com/confide-dev/confide/edl/wire"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/host"
)

// recorder captures the requests real callers send, to seed the fuzzer.
func seeds(t testing.TB) [][]byte {
	var got [][]byte
	m := &impl{}
	table := Ecalls(m)
	rec := func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		got = append(got, append([]byte{byte(fn)}, in...))
		return table[fn](ctx, in)
	}
	ctx := context.Background()
	base := enclave.ErrInvalidParameter
	out := make([]byte, 3)
	_, _ = xcallEchoString(ctx, rec, base, "abc", out, 3)
	_ = xcallInoutBuffer(ctx, rec, base, []byte{1, 2}, 2)
	_ = xcallFillBuffer(ctx, rec, base, make([]byte, 4), 4)
	var total int64
	_, _ = xcallSumPoints(ctx, rec, base, []PointT{{X: 1, Color: Green}}, 1, &total)
	_ = xcallScalePoints(ctx, rec, base, []PointT{{Color: Blue}, {Color: Red}}, 1, 2, 2)
	_, _ = xcallNextColor(ctx, rec, base, Green, true)
	var n uint64
	_ = xcallWide(ctx, rec, base, "wide ✓", &n)
	var cp BlobT
	_ = xcallTakeBlob(ctx, rec, base, &BlobT{Data: []byte("zz"), Len: 2}, &cp)
	var vals [2]float64
	_ = xcallHandle(ctx, rec, base, 1, &[4]uint8{1, 2, 3, 4}, &vals)
	c := int32(0)
	_, _ = xcallHalve(ctx, rec, base, 1, 2, &c)
	if len(got) != 10 {
		t.Fatalf("recorded %d requests; want 10", len(got))
	}
	return got
}

// FuzzEcalls feeds arbitrary requests to every generated ecall decoder: no
// panic, and every rejection wraps enclave.ErrInvalidParameter.
func FuzzEcalls(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		table := Ecalls(&impl{})
		fn := uint32(data[0]) % uint32(len(table))
		_, err := table[fn](context.Background(), data[1:])
		if err != nil && (!errors.Is(err, enclave.ErrInvalidParameter) || !errors.Is(err, wire.ErrMalformed)) {
			t.Fatalf("ecall %d: err = %v; want a wire.ErrMalformed wrapping enclave.ErrInvalidParameter", fn, err)
		}
	})
}

// FuzzOcalls feeds arbitrary requests to the generated ocall decoders on
// the host side.
func FuzzOcalls(f *testing.F) {
	var reqs [][]byte
	m := &impl{}
	table := Ocalls(m)
	rec := func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		reqs = append(reqs, append([]byte{byte(fn)}, in...))
		return table[fn](ctx, in)
	}
	ctx := context.Background()
	_, _, _ = xcallHostOpen(ctx, rec, enclave.ErrInvalidParameter, "/etc/hosts", 2)
	_ = xcallHostLog(ctx, rec, enclave.ErrInvalidParameter, []byte("log line"), 8)
	_, _ = xcallHostAlloc(ctx, rec, enclave.ErrInvalidParameter, 64)
	for _, r := range reqs {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		table := Ocalls(&impl{})
		fn := uint32(data[0]) % uint32(len(table))
		_, err := table[fn](context.Background(), data[1:])
		if err != nil && (!errors.Is(err, host.ErrInvalidParameter) || !errors.Is(err, wire.ErrMalformed)) {
			t.Fatalf("ocall %d: err = %v; want a wire.ErrMalformed wrapping host.ErrInvalidParameter", fn, err)
		}
	})
}

// FuzzResponses feeds arbitrary responses to the generated callers, as a
// hostile callee would return them.
func FuzzResponses(f *testing.F) {
	m := &impl{}
	ecalls := Ecalls(m)
	var resps [][]byte
	rec := func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		out, err := ecalls[fn](ctx, in)
		resps = append(resps, append([]byte{byte(fn)}, out...))
		return out, err
	}
	for range seedCalls(rec) {
	}
	for _, r := range resps {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		want := uint32(data[0]) % 10
		reply := func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
			if fn != want {
				return nil, errSkip
			}
			return data[1:], nil
		}
		for err := range seedCalls(reply) {
			if err != nil && !errors.Is(err, errSkip) && (!errors.Is(err, host.ErrInvalidParameter) || !errors.Is(err, wire.ErrMalformed)) {
				t.Fatalf("caller of %d: err = %v; want wire.ErrMalformed wrapping host.ErrInvalidParameter", want, err)
			}
		}
	})
}

var errSkip = errors.New("skip")

// seedCalls makes one well-formed call of every trusted function over
// xcall and yields each error.
func seedCalls(xcall func(context.Context, uint32, []byte) ([]byte, error)) func(func(error) bool) {
	return func(yield func(error) bool) {
		ctx := context.Background()
		base := host.ErrInvalidParameter
		_, err := xcallEchoString(ctx, xcall, base, "abc", make([]byte, 3), 3)
		_ = yield(err) &&
			yield(xcallInoutBuffer(ctx, xcall, base, []byte{1, 2}, 2)) &&
			yield(xcallFillBuffer(ctx, xcall, base, make([]byte, 4), 4)) &&
			yield(func() error {
				var total int64
				_, err := xcallSumPoints(ctx, xcall, base, []PointT{{X: 1, Color: Green}}, 1, &total)
				return err
			}()) &&
			yield(xcallScalePoints(ctx, xcall, base, []PointT{{Color: Blue}, {Color: Red}}, 1, 2, 2)) &&
			yield(func() error { _, err := xcallNextColor(ctx, xcall, base, Green, true); return err }()) &&
			yield(func() error { var n uint64; return xcallWide(ctx, xcall, base, "wide ✓", &n) }()) &&
			yield(func() error {
				var cp BlobT
				return xcallTakeBlob(ctx, xcall, base, &BlobT{Data: []byte("zz"), Len: 2}, &cp)
			}()) &&
			yield(func() error { var v [2]float64; return xcallHandle(ctx, xcall, base, 1, &[4]uint8{1, 2, 3, 4}, &v) }()) &&
			yield(func() error { c := int32(0); _, err := xcallHalve(ctx, xcall, base, 1, 2, &c); return err }())
	}
}
