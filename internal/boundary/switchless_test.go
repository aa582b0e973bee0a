package boundary

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sharedRegion maps an anonymous shared region, as the host maps its memfd.
func sharedRegion(t testing.TB, slots, capacity int) []byte {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, SwitchlessSize(slots, capacity), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem
}

func echoHandler(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	switch fn {
	case 1:
		return in, nil
	case 2:
		return nil, ErrInvalidParameter
	case 3:
		panic("secret")
	}
	return nil, ErrUnknownFunction
}

func TestSwitchless(t *testing.T) {
	mem := sharedRegion(t, 4, 1<<20)
	caller, err := InitSwitchless(mem, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// The serving side opens the same memory as the other process would.
	server, err := OpenSwitchless(mem, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := caller.Call(ctx, EcallRing, 1, nil); !errors.Is(err, ErrNoWorker) {
		t.Fatalf("Call() with no worker = %v; want ErrNoWorker", err)
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); server.Serve(wctx, EcallRing, echoHandler) }()
	defer func() { stop(); wg.Wait() }()
	for caller.word(caller.ring(EcallRing)+ringOffIdle).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	tests := []struct {
		name    string
		fn      uint32
		in      []byte
		wantErr error
	}{
		{"empty", 1, nil, nil},
		{"64 B", 1, bytes.Repeat([]byte{9}, 64), nil},
		{"1 MiB", 1, bytes.Repeat([]byte{8}, 1<<20), nil},
		{"too large falls back", 1, make([]byte, 1<<20+1), ErrNoWorker},
		{"invalid parameter", 2, nil, ErrInvalidParameter},
		{"panic", 3, nil, ErrPanic},
		{"unknown", 9, nil, ErrUnknownFunction},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := caller.Call(ctx, EcallRing, tc.fn, tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Call() error = %v; want %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, tc.in) {
				t.Fatalf("Call() = %d bytes; want %d", len(got), len(tc.in))
			}
		})
	}
	// Concurrent callers share the slots; a worker that went to sleep is
	// woken by the next request.
	time.Sleep(2 * spinFor)
	var bad atomic.Int32
	var cw sync.WaitGroup
	for g := range 6 {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for i := range 300 {
				in := []byte{byte(g), byte(i)}
				got, err := caller.Call(ctx, EcallRing, 1, in)
				if errors.Is(err, ErrNoWorker) {
					continue
				}
				if err != nil || !bytes.Equal(got, in) {
					bad.Add(1)
				}
			}
		}()
	}
	cw.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d concurrent switchless calls returned wrong results", bad.Load())
	}
}

func TestOpenSwitchlessRejectsBadHeaders(t *testing.T) {
	mem := sharedRegion(t, 2, 4096)
	if _, err := InitSwitchless(mem, 2, 4096); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		slots, cap    int
		mutate        func([]byte)
		mappingShrink int
	}{
		{"announced slots differ", 3, 4096, nil, 0},
		{"announced capacity differs", 2, 8192, nil, 0},
		{"capacity not page aligned", 2, 100, nil, 0},
		{"too many slots", MaxSwitchlessSlots + 1, 4096, nil, 0},
		{"bad magic", 2, 4096, func(b []byte) { b[0] ^= 1 }, 0},
		{"reserved set", 2, 4096, func(b []byte) { b[swOffReserved] = 1 }, 0},
		{"mapping too small", 2, 4096, nil, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), mem...)
			if tc.mutate != nil {
				tc.mutate(b)
			}
			b = b[:len(b)-tc.mappingShrink]
			if _, err := OpenSwitchless(b, tc.slots, tc.cap); err == nil {
				t.Fatal("OpenSwitchless() accepted a bad region")
			}
		})
	}
}

// TestSwitchlessHostileWriter has a hostile peer scribble over every slot
// header and payload while a worker serves: the worker must never panic
// or read out of bounds, and must keep serving.
func TestSwitchlessHostileWriter(t *testing.T) {
	mem := sharedRegion(t, 4, 4096)
	caller, _ := InitSwitchless(mem, 4, 4096)
	server, err := OpenSwitchless(mem, 4, 4096)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var served atomic.Int64
	go func() {
		defer wg.Done()
		server.Serve(ctx, EcallRing, func(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
			served.Add(1)
			if len(in) > 4096 {
				t.Errorf("handler got %d bytes, more than a slot", len(in))
			}
			return in, nil
		})
	}()
	r := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && served.Load() < 200 {
		i := r.IntN(4)
		sl := caller.slot(EcallRing, i)
		switch r.IntN(5) {
		case 4:
			// Post whatever is in the slot, as a caller would.
			caller.word(sl + slotOffState).Store(slotRequest)
			caller.word(caller.ring(EcallRing) + ringOffSeq).Add(1)
			futexWake(caller.word(caller.ring(EcallRing)+ringOffSeq), 1)
		case 0:
			caller.word(sl + slotOffLength).Store(r.Uint32())
		case 1:
			caller.word(sl + slotOffState).Store(uint32(r.IntN(6)))
		case 2:
			caller.word(sl + slotOffFn).Store(r.Uint32())
		case 3:
			d := caller.data(EcallRing, i)
			d[r.IntN(len(d))] = byte(r.Uint32())
		}
	}
	stop()
	wg.Wait()
	if served.Load() < 200 {
		t.Fatalf("the worker served %d hostile requests in 2s; want it to keep serving", served.Load())
	}
}

func BenchmarkSwitchlessInProcess(b *testing.B) {
	mem := sharedRegion(b, 8, 1<<20)
	caller, _ := InitSwitchless(mem, 8, 1<<20)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go caller.Serve(ctx, EcallRing, echoHandler)
	for caller.word(caller.ring(EcallRing)+ringOffIdle).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	in := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if _, err := caller.Call(ctx, EcallRing, 1, in); err != nil {
			b.Fatal(err)
		}
	}
}
