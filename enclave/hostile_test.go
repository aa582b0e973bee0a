package enclave_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/internal/boundary"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// hostileHost starts the test enclave directly, without package host, so
// that the test can speak the protocol wrongly on purpose.
type hostileHost struct {
	cmd    *exec.Cmd
	fd, bg int
	exited chan struct{}
}

func startRaw(t *testing.T, tcs uint32) *hostileHost {
	t.Helper()
	return startRawWith(t, tcs, nil)
}

// startRawWith starts the test enclave with extra descriptors after the
// two call sockets (5, 6, ...).
func startRawWith(t *testing.T, tcs uint32, extra []*os.File) *hostileHost {
	t.Helper()
	path := enclavetest.Signed(t, enclavetest.TestEnclave, enclavetest.Config(tcs), nil)
	var parent [2]int
	var child [2]*os.File
	for i := range 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The child's end is owned by an *os.File from here on and closed
		// only through it: closing the raw number as well would let the
		// File's finalizer close whatever descriptor reuses it later.
		parent[i], child[i] = fds[0], os.NewFile(uintptr(fds[1]), "boundary")
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       []string{"confide-enclave"},
		Env:        []string{},
		ExtraFiles: append(child[:], extra...),
	}
	err := cmd.Start()
	child[0].Close()
	child[1].Close()
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileHost{cmd: cmd, fd: parent[0], bg: parent[1], exited: make(chan struct{})}
	go func() { cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.exited
		unix.Close(h.fd)
		unix.Close(h.bg)
	})
	return h
}

func (h *hostileHost) handshake(t *testing.T, version int) boundary.EnclaveHello {
	t.Helper()
	return h.hello(t, boundary.HostHello{Version: version, SimDir: enclavetest.SimDir(t)})
}

func (h *hostileHost) hello(t *testing.T, hh boundary.HostHello) boundary.EnclaveHello {
	t.Helper()
	if err := boundary.WriteHello(h.fd, hh); err != nil {
		t.Fatal(err)
	}
	var reply boundary.EnclaveHello
	if err := boundary.ReadHello(h.fd, &reply, 30*time.Second); err != nil {
		t.Fatalf("ReadHello() = %v", err)
	}
	return reply
}

func (h *hostileHost) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-h.exited:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("enclave did not exit")
		return 0
	}
}

func TestWrongProtocolVersion(t *testing.T) {
	h := startRaw(t, 1)
	reply := h.handshake(t, boundary.Version+1)
	if reply.Code != "version" || reply.Error == "" {
		t.Fatalf("hello reply = %+v; want a version refusal", reply)
	}
	if code := h.exitCode(t); code != 70 {
		t.Fatalf("enclave exit status = %d; want 70", code)
	}
}

func TestMalformedFramesCloseCleanly(t *testing.T) {
	hdr := func(h boundary.Header) []byte {
		b := make([]byte, boundary.HeaderSize)
		boundary.PutHeader(b, &h)
		return b
	}
	huge := hdr(boundary.Header{Kind: boundary.KindRequest, ID: 1})
	binary.LittleEndian.PutUint32(huge, 0xFFFF_FFFF)
	negative := hdr(boundary.Header{Kind: boundary.KindRequest, ID: 1})
	binary.LittleEndian.PutUint32(negative, 0x8000_0000)
	tests := []struct {
		name string
		send []byte
	}{
		{"huge length", huge},
		{"negative length", negative},
		{"truncated frame", hdr(boundary.Header{Kind: boundary.KindRequest, ID: 1, Length: 100})[:25]},
		{"unknown kind", append([]byte{0, 0, 0, 0, 99}, make([]byte, 35)...)},
		{"second hello", hdr(boundary.Header{Kind: boundary.KindHello})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startRaw(t, 1)
			if reply := h.handshake(t, boundary.Version); reply.Error != "" {
				t.Fatalf("handshake refused: %s", reply.Error)
			}
			if _, err := unix.Write(h.fd, tc.send); err != nil {
				t.Fatal(err)
			}
			unix.Shutdown(h.fd, unix.SHUT_WR)
			// The enclave's Run returns the protocol error and the test
			// enclave exits with status 1: a clean exit, not a Go panic
			// (status 2) and not a crash by signal.
			if code := h.exitCode(t); code != 1 {
				t.Fatalf("enclave exit status = %d; want 1", code)
			}
		})
	}
}

// flood sends n blocking ecalls at once, spread over conns, for 500 ms,
// and returns how many were refused for want of a thread.
func flood(conns []*boundary.Conn, n int) int {
	var wg sync.WaitGroup
	var refused atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := conns[i%len(conns)].Call(ctx, 0, enclavetest.FnBlock, nil)
			if errors.Is(err, boundary.ErrOutOfThreads) {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(refused.Load())
}

func TestFloodBeyondNumTCS(t *testing.T) {
	h := startRaw(t, 2)
	if reply := h.handshake(t, boundary.Version); reply.Error != "" {
		t.Fatalf("handshake refused: %s", reply.Error)
	}
	// A hostile host ignores NumTCS and sends 20 blocking ecalls at once.
	c := boundary.NewConn(h.fd, boundary.Options{})
	if refused := flood([]*boundary.Conn{c}, 20); refused < 18 {
		t.Fatalf("%d of 20 concurrent ecalls refused; want at least 18 with NumTCS=2", refused)
	}
	// The enclave keeps serving.
	out, err := c.Call(context.Background(), 0, enclavetest.FnEcho, []byte("still here"))
	if err != nil || string(out) != "still here" {
		t.Fatalf("Call(echo) after flood = %q, %v", out, err)
	}
}

// socketPairs returns n socket pairs: the host's ends as descriptors, the
// enclave's as files to pass (closed when the test ends).
func socketPairs(t *testing.T, n int) ([]int, []*os.File) {
	t.Helper()
	var ours []int
	var theirs []*os.File
	for range n {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fds[1]), "lane")
		ours, theirs = append(ours, fds[0]), append(theirs, f)
		t.Cleanup(func() { unix.Close(fds[0]); f.Close() })
	}
	return ours, theirs
}

func TestLanesChecked(t *testing.T) {
	_, two := socketPairs(t, 2)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	tests := []struct {
		name  string
		tcs   uint32
		lanes int
		extra []*os.File
	}{
		{"as many lanes as threads", 2, 2, two},
		{"negative", 4, -1, nil},
		{"beyond MaxLanes", 64, boundary.MaxLanes + 1, nil},
		{"descriptor missing", 4, 2, two[:1]},
		{"not a socket", 4, 1, []*os.File{r}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startRawWith(t, tc.tcs, tc.extra)
			reply := h.hello(t, boundary.HostHello{Version: boundary.Version, SimDir: enclavetest.SimDir(t), Lanes: tc.lanes})
			if reply.Code != "lanes" || reply.Error == "" {
				t.Fatalf("hello reply = %+v; want a lanes refusal", reply)
			}
			if code := h.exitCode(t); code != 70 {
				t.Fatalf("enclave exit status = %d; want 70", code)
			}
		})
	}
}

// TestFloodAcrossLanes: NumTCS bounds the ecalls of every call socket
// together, not of each.
func TestFloodAcrossLanes(t *testing.T) {
	lanes, theirs := socketPairs(t, 2)
	h := startRawWith(t, 3, theirs)
	if reply := h.hello(t, boundary.HostHello{Version: boundary.Version, SimDir: enclavetest.SimDir(t), Lanes: 2}); reply.Error != "" {
		t.Fatalf("handshake refused: %s", reply.Error)
	}
	conns := []*boundary.Conn{boundary.NewConn(h.fd, boundary.Options{})}
	for _, fd := range lanes {
		dup, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, boundary.NewConn(dup, boundary.Options{}))
	}
	if refused := flood(conns, 30); refused < 27 {
		t.Fatalf("%d of 30 concurrent ecalls on 3 sockets refused; want at least 27 with NumTCS=3", refused)
	}
	// Every socket keeps serving.
	for i, c := range conns {
		out, err := c.Call(context.Background(), 0, enclavetest.FnEcho, []byte("still here"))
		if err != nil || string(out) != "still here" {
			t.Fatalf("socket %d: Call(echo) after flood = %q, %v", i, out, err)
		}
	}
	for _, c := range conns[1:] {
		c.Close()
	}
}
