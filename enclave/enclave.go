package enclave

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/boundary"
	"github.com/confide-dev/confide/tee"
)

// Func serves one ecall: in is the caller's payload, the result goes back
// to the host. ctx carries the host's deadline and cancellation, and ocalls
// made with ctx are nested in this ecall.
type Func func(ctx context.Context, in []byte) ([]byte, error)

// Ecalls maps function IDs to the functions that serve them. IDs at or
// above 0x8000_0000 are reserved for the runtime.
type Ecalls map[uint32]Func

// Errors that cross the boundary as codes. Return (or wrap) them from a
// Func to send that code; the host sees the matching host.Err* sentinel.
var (
	// ErrInvalidParameter reports a received buffer that failed a check.
	ErrInvalidParameter = boundary.ErrInvalidParameter
	// ErrUnknownFunction reports a function ID with no handler.
	ErrUnknownFunction = boundary.ErrUnknownFunction
	// ErrOutOfThreads reports that every host thread is busy.
	ErrOutOfThreads = boundary.ErrOutOfThreads
	// ErrFailed matches an ocall whose host handler returned an error.
	ErrFailed = boundary.ErrFailed
	// ErrPanic matches an ocall whose host handler panicked.
	ErrPanic = boundary.ErrPanic
	// ErrClosed is returned once the host connection is gone.
	ErrClosed = boundary.ErrClosed
)

// ErrNotEnclave is returned when the process was not started by a confide
// host as an enclave.
var ErrNotEnclave = fmt.Errorf("enclave: this process was not started as an enclave by a confide host")

// runtime is the state of the enclave process. There is one per process:
// it is set once, by init, before any user code runs, and never changes.
type runtime struct {
	img      *image.Image
	platform tee.Platform
	a, b     *boundary.Conn   // a: ecalls and nested ocalls; b: top-level ocalls
	lanes    []*boundary.Conn // more sockets like a, one ecall at a time each
	ready    chan struct{}    // closed once Run has installed the table
	ecalls   Ecalls
	runOnce  sync.Once
	startErr error
	sw       *boundary.Switchless // nil unless the host enabled switchless calls
}

var rt *runtime

// Running reports whether this process is an enclave started by a host.
func Running() bool { return rt != nil && rt.startErr == nil }

// Identity returns the enclave's own identity, as it measured itself.
func Identity() (image.Identity, error) {
	if !Running() {
		return image.Identity{}, ErrNotEnclave
	}
	return rt.img.Identity, nil
}

// Config returns the enclave's signed config.
func Config() (image.Config, error) {
	if !Running() {
		return image.Config{}, ErrNotEnclave
	}
	return rt.img.Config, nil
}

// Platform returns the TEE platform the enclave runs on.
func Platform() (tee.Platform, error) {
	if !Running() {
		return nil, ErrNotEnclave
	}
	if rt.platform == nil {
		return nil, fmt.Errorf("enclave: no platform: %w", tee.ErrUnsupported)
	}
	return rt.platform, nil
}

// Run serves ecalls from the host with the functions in ecalls until the
// host asks the enclave to stop (then it returns nil) or the host goes away
// (then it returns the error). At most NumTCS ecalls run at once; further
// ones are refused with ErrOutOfThreads. Run may be called once.
func Run(ecalls Ecalls) error {
	if rt == nil {
		return ErrNotEnclave
	}
	if rt.startErr != nil {
		return rt.startErr
	}
	for id := range ecalls {
		if id >= boundary.FirstReserved {
			return fmt.Errorf("enclave: function ID %#x is reserved for the runtime", id)
		}
	}
	first := false
	rt.runOnce.Do(func() {
		first = true
		rt.ecalls = ecalls
		close(rt.ready)
	})
	if !first {
		return fmt.Errorf("enclave: Run called twice")
	}
	for _, l := range rt.lanes {
		// Two workers: one serves the lane's ecall, the other reads the
		// socket meanwhile (cancellations) once the first is away longer
		// than a short call.
		go l.Serve(2)
	}
	tcs := int(rt.img.Config.NumTCS)
	err := rt.a.Serve(tcs + 1)
	if err == nil {
		// The host asked to stop: ecalls still running on lanes finish
		// first, as on the call socket.
		for _, l := range rt.lanes {
			l.Drain(context.Background())
		}
	}
	return err
}

// callConn reports whether c carries ecalls (the call socket or a lane).
func (r *runtime) callConn(c *boundary.Conn) bool {
	if c == r.a {
		return true
	}
	for _, l := range r.lanes {
		if c == l {
			return true
		}
	}
	return false
}

// dispatch serves an ecall; it waits until Run has installed the table so
// that an ecall arriving before Run is not refused.
func (r *runtime) dispatch(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f := r.ecalls[fn]
	if f == nil {
		return nil, ErrUnknownFunction
	}
	return f(ctx, in)
}

// Ocall calls host function fn with payload in. Made with the context of
// an ecall, the ocall is nested in it and served by the host thread that
// made the ecall; made with any other context, it is served on its own.
func Ocall(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if !Running() {
		return nil, ErrNotEnclave
	}
	if c, id, ok := boundary.Incoming(ctx); ok && rt.callConn(c) {
		return c.Call(ctx, id, fn, in)
	}
	return rt.b.Call(ctx, 0, fn, in)
}

// OcallSwitchless is Ocall for functions marked transition_using_threads.
// It takes the switchless path when the host has enabled it, and falls
// back to Ocall otherwise.
func OcallSwitchless(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if Running() && rt.sw != nil {
		out, err := rt.sw.Call(ctx, boundary.OcallRing, fn, in)
		if !errors.Is(err, boundary.ErrNoWorker) {
			return out, err
		}
	}
	return Ocall(ctx, fn, in)
}

// Print writes s to the host's standard output: the enclave has none of
// its own.
func Print(ctx context.Context, s string) error {
	_, err := Ocall(ctx, boundary.FnPrint, []byte(s))
	return err
}

// Printf formats according to format and writes to the host's standard
// output.
func Printf(ctx context.Context, format string, args ...any) error {
	return Print(ctx, fmt.Sprintf(format, args...))
}
