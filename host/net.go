package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/confide-dev/confide/internal/boundary"
)

// ErrNetworkDenied is returned to an enclave that dials while the host
// gave no Options.Dial, or has too many connections open.
var ErrNetworkDenied = errors.New("host: network access denied to the enclave")

// maxConns bounds the connections one enclave may hold open at once.
const maxConns = 64

// relay holds the connections the host opened for the enclave. The host
// sees only what the enclave writes: with TLS inside the enclave, that is
// ciphertext.
type relay struct {
	dial  func(ctx context.Context, network, address string) (net.Conn, error)
	mu    sync.Mutex
	next  uint64
	conns map[uint64]net.Conn
}

func newRelay(dial func(ctx context.Context, network, address string) (net.Conn, error)) *relay {
	return &relay{dial: dial, conns: make(map[uint64]net.Conn)}
}

// serve handles one network-relay ocall; ok is false when fn is not one.
func (r *relay) serve(ctx context.Context, fn uint32, in []byte) (out []byte, ok bool, err error) {
	switch fn {
	case boundary.FnNetDial:
		out, err = r.doDial(ctx, in)
	case boundary.FnNetRead:
		out, err = r.doRead(ctx, in)
	case boundary.FnNetWrite:
		err = r.doWrite(ctx, in)
	case boundary.FnNetClose:
		err = r.doClose(in)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func (r *relay) doDial(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) < 1 || int(in[0]) > len(in)-1 || len(in)-1-int(in[0]) > boundary.NetMaxAddress {
		return nil, fmt.Errorf("%w: malformed dial request", ErrInvalidParameter)
	}
	network, address := string(in[1:1+in[0]]), string(in[1+in[0]:])
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%w: network %q (only tcp)", ErrNetworkDenied, network)
	}
	if r.dial == nil {
		return nil, ErrNetworkDenied
	}
	r.mu.Lock()
	full := len(r.conns) >= maxConns
	r.mu.Unlock()
	if full {
		return nil, fmt.Errorf("%w: %d connections open", ErrNetworkDenied, maxConns)
	}
	c, err := r.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.conns == nil { // closed meanwhile
		r.mu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	r.next++
	h := r.next
	r.conns[h] = c
	r.mu.Unlock()
	return binary.LittleEndian.AppendUint64(nil, h), nil
}

func (r *relay) conn(in []byte, min int) (net.Conn, uint64, error) {
	if len(in) < min {
		return nil, 0, fmt.Errorf("%w: short network relay request", ErrInvalidParameter)
	}
	h := binary.LittleEndian.Uint64(in)
	r.mu.Lock()
	c := r.conns[h]
	r.mu.Unlock()
	if c == nil {
		return nil, 0, fmt.Errorf("%w: no connection %d", ErrInvalidParameter, h)
	}
	return c, h, nil
}

// deadline applies ctx's deadline to the next operation on c and makes
// cancellation interrupt it.
func deadline(ctx context.Context, set func(time.Time) error) (stop func()) {
	d, _ := ctx.Deadline()
	_ = set(d)
	s := context.AfterFunc(ctx, func() { _ = set(time.Unix(1, 0)) })
	return func() { s() }
}

func (r *relay) doRead(ctx context.Context, in []byte) ([]byte, error) {
	c, _, err := r.conn(in, 12)
	if err != nil {
		return nil, err
	}
	if len(in) != 12 {
		return nil, fmt.Errorf("%w: malformed read request", ErrInvalidParameter)
	}
	n := min(int(binary.LittleEndian.Uint32(in[8:])), boundary.NetMaxRead)
	buf := make([]byte, 1+n)
	defer deadline(ctx, c.SetReadDeadline)()
	m, err := c.Read(buf[1:])
	if m > 0 {
		return buf[:1+m], nil
	}
	if errors.Is(err, io.EOF) {
		buf[0] = 1
		return buf[:1], nil
	}
	if err == nil {
		return buf[:1], nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, err
}

func (r *relay) doWrite(ctx context.Context, in []byte) error {
	c, _, err := r.conn(in, 8)
	if err != nil {
		return err
	}
	defer deadline(ctx, c.SetWriteDeadline)()
	if _, err := c.Write(in[8:]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

func (r *relay) doClose(in []byte) error {
	if len(in) != 8 {
		return fmt.Errorf("%w: malformed close request", ErrInvalidParameter)
	}
	h := binary.LittleEndian.Uint64(in)
	r.mu.Lock()
	c := r.conns[h]
	delete(r.conns, h)
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: no connection %d", ErrInvalidParameter, h)
	}
	return c.Close()
}

// close closes every connection; later dials fail.
func (r *relay) close() {
	r.mu.Lock()
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
