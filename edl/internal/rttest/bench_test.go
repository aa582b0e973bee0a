package rttest

import (
	"context"
	"testing"

	"github.com/confide-dev/confide/host"
)

// BenchmarkMarshal4KiBInOut sends a 4 KiB [in, out] buffer through the
// generated caller and server (encode request, decode and check, encode
// response, decode into the caller's buffer) in process; the implementation
// does nothing, so the figure is marshaling alone.
func BenchmarkMarshal4KiBInOut(b *testing.B) {
	ctx := context.Background()
	noop := func(context.Context, []byte, uint64) error { return nil }
	call := func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		return xserveInoutBuffer(ctx, in, host.ErrInvalidParameter, noop)
	}
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := xcallInoutBuffer(ctx, call, host.ErrInvalidParameter, buf, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopy4KiB is the baseline: one plain copy of the same 4 KiB.
func BenchmarkCopy4KiB(b *testing.B) {
	src := make([]byte, 4096)
	dst := make([]byte, 4096)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, src)
	}
}
