package boundary

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	fnEcho uint32 = iota + 1
	fnNested
	fnBlock
	fnPanic
	fnFail
	fnInvalid
	fnReenter
)

// pair returns a host-side conn (no serve loop) and an enclave-side conn
// serving with threads TCS, wired through a real socket pair.
func pair(t *testing.T, threads int, hostHandler, encHandler Handler) (host, enc *Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	host = NewConn(fds[0], Options{Handler: hostHandler})
	enc = NewConn(fds[1], Options{Handler: encHandler, Threads: threads, RejectNested: true})
	done := make(chan error, 1)
	go func() { done <- enc.Serve(threads + 1) }()
	t.Cleanup(func() {
		host.Close()
		enc.Close()
		<-done
	})
	return host, enc
}

func enclaveHandler(block chan struct{}) Handler {
	return func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
		switch fn {
		case fnEcho:
			return append([]byte("echo:"), in...), nil
		case fnNested:
			c, id, ok := Incoming(ctx)
			if !ok {
				return nil, errors.New("no incoming request in context")
			}
			// Two nested ocalls from the same ecall.
			a, err := c.Call(ctx, id, 100, in)
			if err != nil {
				return nil, err
			}
			b, err := c.Call(ctx, id, 100, a)
			if err != nil {
				return nil, err
			}
			return b, nil
		case fnBlock:
			select {
			case <-block:
				return []byte("unblocked"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case fnPanic:
			panic("secret-key-material")
		case fnFail:
			return nil, fmt.Errorf("custom failure %s", in)
		case fnInvalid:
			return nil, fmt.Errorf("%w: count too large", ErrInvalidParameter)
		}
		return nil, ErrUnknownFunction
	}
}

func hostHandler(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if fn == 100 {
		return append(in, '+'), nil
	}
	return nil, ErrUnknownFunction
}

func TestCall(t *testing.T) {
	host, _ := pair(t, 2, hostHandler, enclaveHandler(nil))
	ctx := context.Background()
	tests := []struct {
		name    string
		fn      uint32
		in      []byte
		want    []byte
		wantErr error
	}{
		{"echo", fnEcho, []byte("hi"), []byte("echo:hi"), nil},
		{"empty", fnEcho, nil, []byte("echo:"), nil},
		{"large", fnEcho, bytes.Repeat([]byte{7}, 3<<20), append([]byte("echo:"), bytes.Repeat([]byte{7}, 3<<20)...), nil},
		{"nested ocalls", fnNested, []byte("x"), []byte("x++"), nil},
		{"unknown function", 999, nil, nil, ErrUnknownFunction},
		{"panic", fnPanic, nil, nil, ErrPanic},
		{"handler error", fnFail, []byte("7"), nil, ErrFailed},
		{"invalid parameter", fnInvalid, nil, nil, ErrInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := host.Call(ctx, 0, tc.fn, tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Call(%d) error = %v; want %v", tc.fn, err, tc.wantErr)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Call(%d) = %.40q; want %.40q", tc.fn, got, tc.want)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret")) {
				t.Fatalf("error %q leaks the panic value", err)
			}
		})
	}
}

func TestOutOfThreadsAndCancel(t *testing.T) {
	block := make(chan struct{})
	host, _ := pair(t, 2, hostHandler, enclaveHandler(block))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = host.Call(ctx, 0, fnBlock, nil)
		}()
	}
	// Wait until both TCS are taken, then a third call is refused.
	var err error
	for i := 0; i < 200; i++ {
		_, err = host.Call(context.Background(), 0, fnEcho, nil)
		if errors.Is(err, ErrOutOfThreads) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, ErrOutOfThreads) {
		cancel()
		wg.Wait()
		t.Fatalf("third concurrent Call error = %v; want ErrOutOfThreads (blocked calls: %v)", err, errs)
	}
	cancel()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked call %d error = %v; want context.Canceled", i, err)
		}
	}
	if got, err := host.Call(context.Background(), 0, fnEcho, []byte("a")); err != nil || string(got) != "echo:a" {
		t.Fatalf("Call after cancel = %q, %v; want echo:a", got, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	host, _ := pair(t, 4, hostHandler, enclaveHandler(nil))
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				in := []byte(fmt.Sprintf("%d-%d", g, i))
				fn := fnEcho
				want := append([]byte("echo:"), in...)
				if i%3 == 0 {
					fn, want = fnNested, append(append([]byte{}, in...), '+', '+')
				}
				got, err := host.Call(context.Background(), 0, fn, in)
				if errors.Is(err, ErrOutOfThreads) {
					continue
				}
				if err != nil || !bytes.Equal(got, want) {
					failed.Add(1)
					t.Errorf("Call(%s) = %q, %v; want %q", in, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestReentrantRefused(t *testing.T) {
	host, _ := pair(t, 2, hostHandler, enclaveHandler(nil))
	// A request that claims to be nested in an enclave call is an ecall
	// from inside an ocall: the enclave side refuses it.
	_, err := host.Call(context.Background(), 12345, fnEcho, nil)
	if !errors.Is(err, ErrReentrant) {
		t.Fatalf("nested ecall error = %v; want ErrReentrant", err)
	}
}

func TestShutdownDrains(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	host := NewConn(fds[0], Options{})
	defer host.Close()
	enc := NewConn(fds[1], Options{Handler: enclaveHandler(nil), Threads: 1})
	done := make(chan error, 1)
	go func() { done <- enc.Serve(2) }()
	if _, err := host.Call(context.Background(), 0, fnEcho, nil); err != nil {
		t.Fatal(err)
	}
	if err := host.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve() after shutdown = %v; want nil", err)
	}
	if _, err := host.Call(context.Background(), 0, fnEcho, nil); err == nil {
		t.Fatal("Call after enclave shutdown succeeded; want error")
	}
}

// TestHostileFrames sends raw bytes to a serving enclave-side conn.
func TestHostileFrames(t *testing.T) {
	hdr := func(h Header) []byte { b := make([]byte, HeaderSize); PutHeader(b, &h); return b }
	huge := hdr(Header{Kind: KindRequest, ID: 1, Fn: fnEcho})
	binary.LittleEndian.PutUint32(huge, 0xFFFFFFFF)
	neg := hdr(Header{Kind: KindRequest, ID: 1, Fn: fnEcho})
	binary.LittleEndian.PutUint32(neg, 0x80000000)
	badKind := hdr(Header{Kind: KindRequest, ID: 1})
	badKind[offKind] = 77
	reserved := hdr(Header{Kind: KindRequest, ID: 1})
	reserved[offReserved] = 1
	tests := []struct {
		name     string
		send     []byte
		wantDead bool // the enclave side closes the connection
	}{
		{"huge length", huge, true},
		{"negative length", neg, true},
		{"unknown kind", badKind, true},
		{"reserved field", reserved, true},
		{"truncated then EOF", hdr(Header{Kind: KindRequest, ID: 1, Fn: fnEcho, Length: 10})[:20], true},
		{"hello after handshake", hdr(Header{Kind: KindHello}), true},
		{"response to unknown call", hdr(Header{Kind: KindResponse, ID: 42}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			enc := NewConn(fds[1], Options{Handler: enclaveHandler(nil), Threads: 2, RejectNested: true})
			done := make(chan error, 1)
			go func() { done <- enc.Serve(3) }()
			if _, err := unix.Write(fds[0], tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.name == "truncated then EOF" {
				unix.Shutdown(fds[0], unix.SHUT_WR)
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("Serve() = %v; want ErrProtocol", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("enclave side kept serving after a malformed frame")
			}
			unix.Close(fds[0])
		})
	}
}

// TestUnknownFunctionKeepsServing checks that a well-formed call to an
// unknown function is answered and the connection stays up.
func TestUnknownFunctionKeepsServing(t *testing.T) {
	host, _ := pair(t, 1, nil, enclaveHandler(nil))
	for range 3 {
		if _, err := host.Call(context.Background(), 0, 0xDEAD, nil); !errors.Is(err, ErrUnknownFunction) {
			t.Fatalf("Call(unknown) = %v; want ErrUnknownFunction", err)
		}
	}
	if _, err := host.Call(context.Background(), 0, fnEcho, nil); err != nil {
		t.Fatalf("Call(echo) after unknown functions = %v", err)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Header{Kind: KindRequest, ID: 1, Fn: 2}, []byte("payload")))
	f.Add(AppendFrame(nil, Header{Kind: KindResponse, ID: 9, Status: StatusFailed}, []byte("msg")))
	f.Add(AppendFrame(nil, Header{Kind: KindHello}, []byte(`{"version":1}`)))
	f.Add(AppendFrame(nil, Header{Kind: KindShutdown}, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseFrame error %v does not match ErrProtocol", err)
			}
			return
		}
		// A frame that parses re-encodes to the same bytes.
		if got := AppendFrame(nil, fr.Header, fr.Payload); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded frame differs:\n got %x\nwant %x", got, b)
		}
	})
}
