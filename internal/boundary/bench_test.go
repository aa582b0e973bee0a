package boundary

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	switch os.Getenv("CONFIDE_BOUNDARY_TEST_PEER") {
	case "raw":
		rawEcho(3)
		os.Exit(0)
	case "conn":
		c := NewConn(3, Options{Threads: 2, RejectNested: true, Handler: func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
			if fn == 2 {
				in2, err := 0, error(nil)
				_ = in2
				c, id, _ := Incoming(ctx)
				_, err = c.Call(ctx, id, 1, in)
				return in, err
			}
			return in, nil
		}})
		c.Serve(3)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func rawEcho(fd int) {
	buf := make([]byte, 64)
	for {
		for n := 0; n < 64; {
			m, err := unix.Read(fd, buf[n:])
			if err != nil || m == 0 {
				return
			}
			n += m
		}
		if _, err := unix.Write(fd, buf); err != nil {
			return
		}
	}
}

func startPeer(b *testing.B, mode string) (int, func()) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	child := os.NewFile(uintptr(fds[1]), "peer")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONFIDE_BOUNDARY_TEST_PEER="+mode)
	cmd.ExtraFiles = []*os.File{child}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	child.Close()
	return fds[0], func() { unix.Shutdown(fds[0], unix.SHUT_RDWR); cmd.Wait() }
}

// BenchmarkSocketpairRoundTrip: raw 64-byte ping-pong with a child process.
func BenchmarkSocketpairRoundTrip(b *testing.B) {
	fd, stop := startPeer(b, "raw")
	defer stop()
	buf := make([]byte, 64)
	for range b.N {
		unix.Write(fd, buf)
		for n := 0; n < 64; {
			m, err := unix.Read(fd, buf[n:])
			if err != nil || m == 0 {
				b.Fatal(err)
			}
			n += m
		}
	}
}

// BenchmarkConnRoundTrip: a framed call to a child process serving with Conn.
func BenchmarkConnRoundTrip(b *testing.B) {
	fd, stop := startPeer(b, "conn")
	defer stop()
	c := NewConn(fd, Options{Handler: func(ctx context.Context, fn uint32, in []byte) ([]byte, error) { return in, nil }})
	in := make([]byte, 64)
	ctx := context.Background()
	b.Run("64B", func(b *testing.B) {
		for range b.N {
			if _, err := c.Call(ctx, 0, 1, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nested", func(b *testing.B) {
		for range b.N {
			if _, err := c.Call(ctx, 0, 2, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
