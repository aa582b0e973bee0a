// Command rtenclave is an enclave program serving the bindings generated
// from rt.edl, for the end-to-end test in package rttest.
package main

import (
	"context"
	"os"

	"github.com/confide-dev/confide/edl/internal/rttest"
	"github.com/confide-dev/confide/enclave"
)

type impl struct{}

// EchoString makes a nested ocall (host_open, with errno) and a
// switchless one (host_log), then echoes s; it returns fd*100 + errno.
func (impl) EchoString(ctx context.Context, s string, out []byte, n uint64) (int32, error) {
	fd, errno, err := rttest.HostOpen(ctx, s, 0)
	if err != nil {
		return 0, err
	}
	if err := rttest.HostLog(ctx, []byte(s), uint64(len(s))); err != nil {
		return 0, err
	}
	copy(out, s)
	return fd*100 + errno, nil
}

func (impl) InoutBuffer(ctx context.Context, buf []byte, n uint64) error {
	for i := range buf {
		buf[i] ^= 0xff
	}
	return nil
}

func (impl) FillBuffer(ctx context.Context, buf []byte, n uint64) error {
	for i := range buf {
		buf[i] = byte(i)
	}
	return nil
}

func (impl) SumPoints(ctx context.Context, pts []rttest.PointT, n uint64, total *int64) (uint64, error) {
	var s int64
	for _, p := range pts {
		s += int64(p.X) + int64(p.Y)
	}
	if total != nil {
		*total = s
	}
	return uint64(len(pts)), nil
}

func (impl) ScalePoints(ctx context.Context, pts []rttest.PointT, rows, cols uint32, factor int32) error {
	for i := range pts {
		pts[i].X *= factor
		pts[i].Y *= factor
	}
	return nil
}

func (impl) NextColor(ctx context.Context, c rttest.ColorT, wrap bool) (rttest.ColorT, error) {
	if c == rttest.Blue && wrap {
		return rttest.Red, nil
	}
	return c + 1, nil
}

func (impl) Wide(ctx context.Context, w string, runes *uint64) error {
	if runes != nil {
		*runes = uint64(len([]rune(w)))
	}
	return nil
}

func (impl) TakeBlob(ctx context.Context, b *rttest.BlobT, cp *rttest.BlobT) error {
	if b != nil && cp != nil {
		*cp = rttest.BlobT{Data: append([]byte(nil), b.Data...), Len: b.Len, Cookie: b.Cookie + 1}
	}
	return nil
}

func (impl) Handle(ctx context.Context, p uintptr, key *[4]uint8, vals *[2]float64) error {
	if vals != nil && key != nil {
		vals[0], vals[1] = float64(p), float64(key[3])
	}
	return nil
}

func (impl) Halve(ctx context.Context, f float32, d float64, counter *int32) (float32, error) {
	if counter != nil {
		*counter++
	}
	return f / 2, nil
}

func main() {
	if err := enclave.Run(rttest.Ecalls(impl{})); err != nil {
		os.Exit(1)
	}
}
