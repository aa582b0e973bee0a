package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/enclavetest"
)

func load(t *testing.T, cfg image.Config, opts host.Options) *host.Enclave {
	t.Helper()
	path := enclavetest.Signed(t, enclavetest.TestEnclave, cfg, nil)
	opts.SimDir = enclavetest.SimDir(t)
	e, err := host.Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func appendOcall(ctx context.Context, in []byte) ([]byte, error) { return append(in, 'o'), nil }

func TestCalls(t *testing.T) {
	var out bytes.Buffer
	var outMu sync.Mutex
	e := load(t, enclavetest.Config(2), host.Options{
		Ocalls: map[uint32]host.OcallFunc{0: appendOcall},
		Stdout: writerFunc(func(p []byte) (int, error) { outMu.Lock(); defer outMu.Unlock(); return out.Write(p) }),
	})
	ctx := context.Background()
	n3 := binary.LittleEndian.AppendUint32(nil, 3)
	tests := []struct {
		name    string
		fn      uint32
		in      []byte
		want    []byte
		wantErr error
	}{
		{"echo empty", enclavetest.FnEcho, nil, nil, nil},
		{"echo 64 B", enclavetest.FnEcho, bytes.Repeat([]byte{1}, 64), bytes.Repeat([]byte{1}, 64), nil},
		{"echo 1 MiB", enclavetest.FnEcho, bytes.Repeat([]byte{2}, 1<<20), bytes.Repeat([]byte{2}, 1<<20), nil},
		{"nested ocalls", enclavetest.FnNested, n3, []byte("ooo"), nil},
		{"bad parameter", enclavetest.FnNested, []byte{1}, nil, host.ErrInvalidParameter},
		{"unknown function", 4242, nil, nil, host.ErrUnknownFunction},
		{"reserved function", 0x8000_0001, nil, nil, host.ErrUnknownFunction},
		{"panic", enclavetest.FnPanic, nil, nil, host.ErrPanic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Call(ctx, tc.fn, tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Call(%d) error = %v; want %v", tc.fn, err, tc.wantErr)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Call(%d) = %.32x (len %d); want len %d", tc.fn, got, len(got), len(tc.want))
			}
			if err != nil && strings.Contains(err.Error(), "enclave-secret-value") {
				t.Fatalf("error %q leaks the panic value", err)
			}
		})
	}
	t.Run("identity", func(t *testing.T) {
		got, err := e.Call(ctx, enclavetest.FnIdentity, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := e.Identity()
		if want := append(id.UniqueID[:], id.SignerID[:]...); !bytes.Equal(got, want) {
			t.Fatalf("enclave measured itself as %x; host verified %x", got, want)
		}
	})
	t.Run("print through host", func(t *testing.T) {
		if _, err := e.Call(ctx, enclavetest.FnPrint, []byte("Hello from the enclave\n")); err != nil {
			t.Fatal(err)
		}
		outMu.Lock()
		defer outMu.Unlock()
		if got := out.String(); got != "Hello from the enclave\n" {
			t.Fatalf("host stdout = %q; want the enclave's line", got)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBackgroundOcall(t *testing.T) {
	got := make(chan []byte, 1)
	e := load(t, enclavetest.Config(1), host.Options{Ocalls: map[uint32]host.OcallFunc{
		1: func(ctx context.Context, in []byte) ([]byte, error) { got <- in; return nil, nil },
	}})
	if _, err := e.Call(context.Background(), enclavetest.FnOcallBackground, []byte("bg")); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if b := <-got; string(b) != "bg" {
		t.Fatalf("background ocall got %q; want bg", b)
	}
}

func TestThreadLimit(t *testing.T) {
	e := load(t, enclavetest.Config(2), host.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Call(ctx, enclavetest.FnBlock, nil)
			errs <- err
		}()
	}
	// Both TCS are busy (or about to be): a third caller waits for a thread
	// until its context ends.
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	time.Sleep(50 * time.Millisecond)
	if _, err := e.Call(short, enclavetest.FnEcho, nil); !errors.Is(err, host.ErrOutOfThreads) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Call() = %v; want ErrOutOfThreads and DeadlineExceeded", err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked Call() = %v; want context.Canceled", err)
		}
	}
	if _, err := e.Call(context.Background(), enclavetest.FnEcho, nil); err != nil {
		t.Fatalf("Call() after cancel = %v", err)
	}
}

func TestDeadlineCrossesBoundary(t *testing.T) {
	e := load(t, enclavetest.Config(1), host.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// The handler spins until its own context ends: only the deadline that
	// crossed the boundary can stop it.
	if _, err := e.Call(ctx, enclavetest.FnSpin, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call(spin) = %v; want DeadlineExceeded", err)
	}
}

func TestReentrantEcallRefused(t *testing.T) {
	var e *host.Enclave
	var inner error
	e = load(t, enclavetest.Config(2), host.Options{Ocalls: map[uint32]host.OcallFunc{
		0: func(ctx context.Context, in []byte) ([]byte, error) {
			_, inner = e.Call(ctx, enclavetest.FnEcho, nil)
			return in, nil
		},
	}})
	if _, err := e.Call(context.Background(), enclavetest.FnNested, binary.LittleEndian.AppendUint32(nil, 1)); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if !errors.Is(inner, host.ErrReentrant) {
		t.Fatalf("ecall from inside an ocall = %v; want ErrReentrant", inner)
	}
}

func TestEnclaveLost(t *testing.T) {
	e := load(t, enclavetest.Config(1), host.Options{})
	_, err := e.Call(context.Background(), enclavetest.FnExit, []byte{3})
	var lost *host.LostError
	if !errors.As(err, &lost) || !errors.Is(err, host.ErrEnclaveLost) {
		t.Fatalf("Call(exit) = %v; want *LostError", err)
	}
	if lost.ExitCode != 3 {
		t.Fatalf("LostError.ExitCode = %d; want 3", lost.ExitCode)
	}
	if _, err := e.Call(context.Background(), enclavetest.FnEcho, nil); !errors.Is(err, host.ErrEnclaveLost) {
		t.Fatalf("Call() after loss = %v; want ErrEnclaveLost", err)
	}
}

func TestCloseGraceful(t *testing.T) {
	path := enclavetest.Signed(t, enclavetest.TestEnclave, enclavetest.Config(1), nil)
	e, err := host.Load(context.Background(), path, host.Options{SimDir: enclavetest.SimDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	pid := e.PID()
	if err := e.Close(); err != nil {
		t.Fatalf("Close() = %v; want graceful exit", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		// The process is reaped by Close; a zombie or live process remains only on failure.
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if !strings.Contains(string(b), "zombie") {
			t.Fatalf("enclave process %d still exists after Close", pid)
		}
	}
	if _, err := e.Call(context.Background(), enclavetest.FnEcho, nil); err == nil {
		t.Fatal("Call() after Close succeeded")
	}
}

func TestSwitchless(t *testing.T) {
	e := load(t, enclavetest.Config(1), host.Options{
		Switchless: &host.SwitchlessOptions{Slots: 4, SlotSize: 64 << 10},
		Ocalls: map[uint32]host.OcallFunc{0: func(ctx context.Context, in []byte) ([]byte, error) {
			return append(in, '!'), nil
		}},
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"64 B", bytes.Repeat([]byte{3}, 64)},
		{"fits a slot", bytes.Repeat([]byte{4}, 64<<10)},
		{"larger than a slot falls back", bytes.Repeat([]byte{5}, 64<<10+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.CallSwitchless(ctx, enclavetest.FnEcho, tc.in)
			if err != nil || !bytes.Equal(got, tc.in) {
				t.Fatalf("CallSwitchless(echo, %d B) = %d B, %v", len(tc.in), len(got), err)
			}
		})
	}
	t.Run("switchless ocall", func(t *testing.T) {
		got, err := e.CallSwitchless(ctx, enclavetest.FnOcallSwitchless, []byte("hi"))
		if err != nil || string(got) != "hi!" {
			t.Fatalf("switchless ecall making a switchless ocall = %q, %v", got, err)
		}
	})
	t.Run("errors cross as codes", func(t *testing.T) {
		if _, err := e.CallSwitchless(ctx, enclavetest.FnPanic, nil); !errors.Is(err, host.ErrPanic) {
			t.Fatalf("CallSwitchless(panic) = %v; want ErrPanic", err)
		}
	})
}
