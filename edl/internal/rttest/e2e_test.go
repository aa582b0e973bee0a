package rttest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/confide-dev/confide/edl/wire"
	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// TestEndToEnd loads rtenclave (built from the generated trusted side) on
// the simulated platform and drives it through the generated untrusted
// side: typed ecalls, nested ocalls with errno, a switchless ocall and
// struct, enum, string and in/out buffer marshaling across a real process
// boundary.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an enclave")
	}
	path := enclavetest.Signed(t, "github.com/confide-dev/confide/edl/internal/rttest/rtenclave", enclavetest.Config(2), nil)
	hostImpl := &impl{}
	ctx := context.Background()
	e, err := host.Load(ctx, path, host.Options{Platform: "sim", SimDir: enclavetest.SimDir(t), Ocalls: Ocalls(hostImpl)})
	if err != nil {
		t.Fatalf("host.Load = %v", err)
	}
	defer e.Close()
	c := NewClient(e)

	out := make([]byte, 8)
	got, err := c.EchoString(ctx, "/missing", out, 8)
	if err != nil || got != -100+2 || string(out) != "/missing" {
		t.Fatalf("EchoString(/missing) = %d, %q, %v; want -98 (fd -1, errno 2), /missing", got, out, err)
	}
	if hostImpl.calls != 2 {
		t.Errorf("host served %d ocalls; want 2 (host_open, host_log)", hostImpl.calls)
	}
	buf := []byte{0, 1, 0xff}
	if err := c.InoutBuffer(ctx, buf, 3); err != nil || !bytes.Equal(buf, []byte{0xff, 0xfe, 0}) {
		t.Fatalf("InoutBuffer = %x, %v; want fffe00", buf, err)
	}
	fill := make([]byte, 300)
	if err := c.FillBuffer(ctx, fill, 300); err != nil || fill[299] != byte(299%256) {
		t.Fatalf("FillBuffer (switchless) = %v, last %d; want nil, %d", err, fill[299], 299%256)
	}
	pts := []PointT{{X: 2, Y: 3, Color: Green}, {X: 5, Y: 7, Color: Blue}}
	var total int64
	if n, err := c.SumPoints(ctx, pts, 2, &total); err != nil || n != 2 || total != 17 {
		t.Fatalf("SumPoints = %d, %d, %v; want 2, 17", n, total, err)
	}
	if err := c.ScalePoints(ctx, pts, 2, 1, -1); err != nil || pts[1].Y != -7 || pts[1].Color != Blue {
		t.Fatalf("ScalePoints = %+v, %v; want negated", pts, err)
	}
	var runes uint64
	if err := c.Wide(ctx, "日本語", &runes); err != nil || runes != 3 {
		t.Fatalf("Wide = %d, %v; want 3", runes, err)
	}
	// An enclave answering with an undeclared enum value is rejected by the
	// host-side decoder: Green+1 = 3 is not a color_t.
	if _, err := c.NextColor(ctx, Green, false); !errors.Is(err, host.ErrInvalidParameter) || !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("NextColor(Green) = %v; want host.ErrInvalidParameter for an out-of-range enum", err)
	}
	if _, err := c.EchoString(ctx, "x", make([]byte, 2), 3); !errors.Is(err, wire.ErrMismatch) {
		t.Fatalf("EchoString with inconsistent size = %v; want wire.ErrMismatch", err)
	}
	// The enclave is still serving after the rejected calls.
	if f, err := c.Halve(ctx, 9, 0, nil); err != nil || f != 4.5 {
		t.Fatalf("Halve(9) = %v, %v; want 4.5", f, err)
	}
}
