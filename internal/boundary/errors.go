package boundary

import (
	"context"
	"errors"
	"fmt"
)

// Status is the outcome code carried by a response frame. Errors cross the
// boundary as codes and come back as sentinels (see RemoteError).
type Status uint16

// Statuses (spec/boundary.md, "Status codes").
const (
	StatusOK               Status = 0
	StatusFailed           Status = 1  // the handler returned an error; payload is its message
	StatusUnknownFunction  Status = 2  // no handler for the function ID
	StatusOutOfThreads     Status = 3  // every TCS is busy
	StatusInvalidParameter Status = 4  // a received buffer failed a check; payload is a message
	StatusReentrant        Status = 5  // an ecall made from inside an ocall
	StatusCanceled         Status = 6  // the caller's context was canceled
	StatusDeadlineExceeded Status = 7  // the caller's deadline passed
	StatusPanic            Status = 8  // the handler panicked (no message crosses)
	StatusShuttingDown     Status = 9  // the peer is stopping
	statusMax              Status = 10 // first unknown status
)

// Sentinel errors. The host and enclave packages re-export them.
var (
	// ErrClosed is returned for calls on a closed connection.
	ErrClosed = errors.New("boundary: connection closed")
	// ErrFailed matches a handler error that crossed the boundary.
	ErrFailed = errors.New("boundary: call failed")
	// ErrUnknownFunction matches a call to a function ID with no handler.
	ErrUnknownFunction = errors.New("boundary: unknown function")
	// ErrOutOfThreads matches a call refused because every TCS was busy.
	ErrOutOfThreads = errors.New("boundary: out of enclave threads (TCS)")
	// ErrInvalidParameter matches a call whose buffers failed a check.
	ErrInvalidParameter = errors.New("boundary: invalid parameter")
	// ErrReentrant matches an ecall made from inside an ocall.
	ErrReentrant = errors.New("boundary: ecall from inside an ocall is not allowed")
	// ErrPanic matches a call whose handler panicked.
	ErrPanic = errors.New("boundary: handler panicked")
	// ErrShuttingDown matches a call refused because the peer is stopping.
	ErrShuttingDown = errors.New("boundary: peer is shutting down")
	// ErrProtocol matches a protocol violation by the peer.
	ErrProtocol = errors.New("boundary: protocol violation")
)

// FrameError reports a malformed frame. It matches ErrProtocol.
type FrameError struct {
	Reason string
}

func (e *FrameError) Error() string { return "boundary: malformed frame: " + e.Reason }

// Unwrap returns ErrProtocol.
func (e *FrameError) Unwrap() error { return ErrProtocol }

// RemoteError is an error status returned by the peer for a call.
type RemoteError struct {
	// Status is the code that crossed the boundary.
	Status Status
	// Fn is the function that was called.
	Fn uint32
	// Message is the text the peer chose to send (handler errors only).
	Message string
}

func (e *RemoteError) Error() string {
	base := e.Unwrap().Error()
	if e.Message != "" {
		return fmt.Sprintf("%s (function %#x): %s", base, e.Fn, e.Message)
	}
	return fmt.Sprintf("%s (function %#x)", base, e.Fn)
}

// Unwrap returns the sentinel for e.Status.
func (e *RemoteError) Unwrap() error {
	switch e.Status {
	case StatusUnknownFunction:
		return ErrUnknownFunction
	case StatusOutOfThreads:
		return ErrOutOfThreads
	case StatusInvalidParameter:
		return ErrInvalidParameter
	case StatusReentrant:
		return ErrReentrant
	case StatusCanceled:
		return context.Canceled
	case StatusDeadlineExceeded:
		return context.DeadlineExceeded
	case StatusPanic:
		return ErrPanic
	case StatusShuttingDown:
		return ErrShuttingDown
	}
	return ErrFailed
}

// maxMessage caps the error text that crosses the boundary.
const maxMessage = 1024

// statusOf maps a handler error to the status and message that cross the
// boundary. Only handler-chosen messages cross; sentinels cross as codes.
func statusOf(err error) (Status, string) {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		// An error from a nested call made by the handler: pass its code on.
		return re.Status, truncate(re.Message)
	case errors.Is(err, ErrInvalidParameter):
		return StatusInvalidParameter, truncate(err.Error())
	case errors.Is(err, ErrUnknownFunction):
		return StatusUnknownFunction, ""
	case errors.Is(err, ErrReentrant):
		return StatusReentrant, ""
	case errors.Is(err, context.Canceled):
		return StatusCanceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return StatusDeadlineExceeded, ""
	}
	return StatusFailed, truncate(err.Error())
}

func truncate(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage]
	}
	return s
}
