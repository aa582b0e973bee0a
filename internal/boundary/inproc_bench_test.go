package boundary

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

func BenchmarkInProcess(b *testing.B) {
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	host := NewConn(fds[0], Options{Handler: func(ctx context.Context, fn uint32, in []byte) ([]byte, error) { return in, nil }})
	enc := NewConn(fds[1], Options{Threads: 2, RejectNested: true, Handler: func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		if fn == 2 {
			c, id, _ := Incoming(ctx)
			return c.Call(ctx, id, 1, in)
		}
		return in, nil
	}})
	go enc.Serve(3)
	defer func() { host.Close(); enc.Close() }()
	in := make([]byte, 64)
	for _, fn := range []uint32{1, 2} {
		b.Run(map[uint32]string{1: "plain", 2: "nested"}[fn], func(b *testing.B) {
			for range b.N {
				if _, err := host.Call(context.Background(), 0, fn, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
