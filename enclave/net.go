package enclave

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/confide-dev/confide/internal/boundary"
)

// Dial opens a TCP connection through the host, which must allow it
// (host.Options.Dial). The enclave cannot open sockets itself; the host
// relays the bytes and sees everything written to the connection, so run
// TLS over it (crypto/tls.Client, or an http.Transport whose DialContext is
// Dial) to keep the plaintext inside the enclave. Its signature fits
// net.Dialer.DialContext and http.Transport.DialContext.
func Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if !Running() {
		return nil, ErrNotEnclave
	}
	if len(network) > 255 || len(address) > boundary.NetMaxAddress {
		return nil, fmt.Errorf("enclave: dial: %w: address too long", ErrInvalidParameter)
	}
	in := append([]byte{byte(len(network))}, network...)
	in = append(in, address...)
	out, err := Ocall(ctx, boundary.FnNetDial, in)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: relayAddr{network, address}, Err: err}
	}
	if len(out) != 8 {
		return nil, fmt.Errorf("enclave: dial: %w: host answered %d bytes", ErrInvalidParameter, len(out))
	}
	c := &hostConn{h: binary.LittleEndian.Uint64(out), remote: relayAddr{network, address}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// relayAddr is the address of a relayed connection, as the enclave asked
// for it (the host resolves it).
type relayAddr struct{ network, address string }

func (a relayAddr) Network() string { return a.network }
func (a relayAddr) String() string  { return a.address }

// hostConn is a connection that the host holds for the enclave. Every
// answer from the host is checked: a read never returns more than asked.
type hostConn struct {
	h      uint64
	remote relayAddr

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	eof           bool

	// ctx ends when the connection is closed, ending blocked operations.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// timeoutError is returned when a deadline passes, as net.Conn requires.
type timeoutError struct{}

func (timeoutError) Error() string   { return "enclave: relayed connection: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

// opContext returns a context that ends at the deadline d (if set) or
// when the connection is closed.
func (c *hostConn) opContext(d time.Time) (context.Context, context.CancelFunc) {
	if d.IsZero() {
		return c.ctx, func() {}
	}
	return context.WithDeadline(c.ctx, d)
}

func (c *hostConn) opError(op string, ctx context.Context, err error) error {
	if c.ctx.Err() != nil {
		return &net.OpError{Op: op, Net: c.remote.network, Addr: c.remote, Err: net.ErrClosed}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = timeoutError{}
	}
	return &net.OpError{Op: op, Net: c.remote.network, Addr: c.remote, Err: err}
}

// Read reads up to len(b) bytes (at most boundary.NetMaxRead per call).
func (c *hostConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	d, eof := c.readDeadline, c.eof
	c.mu.Unlock()
	if eof {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	ctx, done := c.opContext(d)
	defer done()
	if ctx.Err() != nil {
		return 0, c.opError("read", ctx, ctx.Err())
	}
	req := binary.LittleEndian.AppendUint64(make([]byte, 0, 12), c.h)
	req = binary.LittleEndian.AppendUint32(req, uint32(min(len(b), boundary.NetMaxRead)))
	out, err := Ocall(ctx, boundary.FnNetRead, req)
	if err != nil {
		return 0, c.opError("read", ctx, err)
	}
	// Copy, then check: out is host memory.
	if len(out) < 1 || len(out)-1 > len(b) || out[0] > 1 || (out[0] == 1 && len(out) != 1) {
		return 0, c.opError("read", ctx, fmt.Errorf("%w: malformed read answer from the host", ErrInvalidParameter))
	}
	if out[0] == 1 {
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
		return 0, io.EOF
	}
	return copy(b, out[1:]), nil
}

// Write writes b, in pieces that fit one ocall.
func (c *hostConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := c.writeDeadline
	c.mu.Unlock()
	ctx, done := c.opContext(d)
	defer done()
	if ctx.Err() != nil {
		return 0, c.opError("write", ctx, ctx.Err())
	}
	const piece = 256 << 10
	n := 0
	for n < len(b) || len(b) == 0 {
		m := min(len(b)-n, piece)
		req := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+m), c.h)
		req = append(req, b[n:n+m]...)
		if _, err := Ocall(ctx, boundary.FnNetWrite, req); err != nil {
			return n, c.opError("write", ctx, err)
		}
		n += m
		if len(b) == 0 {
			break
		}
	}
	return n, nil
}

// Close closes the connection; blocked reads and writes end.
func (c *hostConn) Close() error {
	first := false
	c.once.Do(func() { first = true; c.cancel() })
	if !first {
		return &net.OpError{Op: "close", Net: c.remote.network, Addr: c.remote, Err: net.ErrClosed}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Ocall(ctx, boundary.FnNetClose, binary.LittleEndian.AppendUint64(nil, c.h))
	return err
}

// LocalAddr returns a placeholder: the socket is the host's.
func (c *hostConn) LocalAddr() net.Addr { return relayAddr{c.remote.network, "enclave"} }

// RemoteAddr returns the address the enclave dialled.
func (c *hostConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *hostConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	return nil
}

// SetReadDeadline sets the read deadline. It applies to the next Read.
func (c *hostConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the write deadline. It applies to the next Write.
func (c *hostConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}
