package host_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// BenchmarkSocketpairRoundTrip is the floor for a process boundary: a raw
// 64-byte ping-pong with a child process over a socket pair, with blocking
// read(2)/write(2) on both sides and no framing.
func BenchmarkSocketpairRoundTrip(b *testing.B) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	child := os.NewFile(uintptr(fds[1]), "peer")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONFIDE_HOST_TEST_HELPER=echo")
	cmd.ExtraFiles = []*os.File{child}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	child.Close()
	fd := fds[0]
	defer func() {
		unix.Close(fd)
		cmd.Wait()
	}()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.SetBytes(64)
	b.ResetTimer()
	for range b.N {
		if _, err := unix.Write(fd, msg); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(buf); {
			m, err := unix.Read(fd, buf[n:])
			if err != nil || m == 0 {
				b.Fatalf("read: %v", err)
			}
			n += m
		}
	}
}

// BenchmarkEcallRoundTrip measures a regular ecall to the test enclave: an
// empty one, and one with 64 bytes in and out.
func BenchmarkEcallRoundTrip(b *testing.B) {
	path := enclavetest.Signed(b, enclavetest.TestEnclave, enclavetest.Config(2), nil)
	e, err := host.Load(context.Background(), path, host.Options{SimDir: enclavetest.SimDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	for _, size := range []struct {
		name string
		n    int
	}{{"empty", 0}, {"64B", 64}} {
		in := make([]byte, size.n)
		b.Run(size.name, func(b *testing.B) {
			if size.n > 0 {
				b.SetBytes(int64(size.n))
			}
			for range b.N {
				if _, err := e.Call(ctx, enclavetest.FnEcho, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEcallSwitchless measures an ecall through the switchless
// region: an empty one, 64 bytes in and out, and a 1 MiB [in] transfer
// (in only: the enclave returns the length).
func BenchmarkEcallSwitchless(b *testing.B) {
	path := enclavetest.Signed(b, enclavetest.TestEnclave, enclavetest.Config(2), nil)
	e, err := host.Load(context.Background(), path, host.Options{
		SimDir:     enclavetest.SimDir(b),
		Switchless: &host.SwitchlessOptions{SlotSize: 2 << 20},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	for _, size := range []struct {
		name string
		n    int
		fn   uint32
	}{{"empty", 0, enclavetest.FnEcho}, {"64B", 64, enclavetest.FnEcho}, {"1MiB_in", 1 << 20, enclavetest.FnSink}} {
		in := make([]byte, size.n)
		b.Run(size.name, func(b *testing.B) {
			if size.n > 0 {
				b.SetBytes(int64(size.n))
			}
			for range b.N {
				if _, err := e.CallSwitchless(ctx, size.fn, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
