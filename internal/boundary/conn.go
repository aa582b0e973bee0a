package boundary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Handler serves one request from the peer. ctx carries the request's
// deadline and cancellation, and identifies the request so that calls made
// with ctx are nested in it.
type Handler func(ctx context.Context, fn uint32, in []byte) ([]byte, error)

// Options configure a Conn.
type Options struct {
	// Handler serves requests from the peer. Nil answers every request
	// with StatusUnknownFunction.
	Handler Handler
	// Threads bounds the top-level requests (those not nested in a call of
	// this side) served at once; a request beyond it is refused with
	// StatusOutOfThreads. Zero means no bound: each top-level request is
	// served on a new goroutine.
	Threads int
	// Pool, if set, is shared by several Conns (the channels of one
	// enclave) and bounds their top-level requests together, in addition
	// to Threads: a request that finds it exhausted is refused with
	// StatusOutOfThreads.
	Pool *ThreadPool
	// RejectNested refuses requests nested in a call of this side with
	// StatusReentrant (the enclave sets it: an ecall from inside an ocall).
	RejectNested bool
	// MaxPayload is the largest payload accepted; zero means
	// DefaultMaxPayload. A larger frame closes the connection.
	MaxPayload uint32
	// BaseContext is the parent of top-level handler contexts; nil means
	// context.Background().
	BaseContext context.Context
	// OnFail, if set, is called once with the error that closed the
	// connection (io.EOF when the peer went away).
	OnFail func(error)
}

// Conn is one end of the boundary: a stream socket carrying frames in both
// directions. Calls and incoming requests are multiplexed with a
// leader/follower scheme: a goroutine waiting for a frame reads the socket
// itself when nobody else is, so a single caller pays no goroutine hand-off.
type Conn struct {
	fd   int
	opts Options
	max  uint32

	wmu  sync.Mutex // serializes writes; guards wbuf and fd closing
	wbuf []byte

	mu       sync.Mutex
	reading  bool      // a goroutine holds the reader role
	rd       reader    // owned by the reader-role holder
	parked   []*waiter // goroutines waiting to be woken
	idle     []*waiter // idle serve workers
	calls    map[uint64]*waiter
	nextID   uint64
	inflight map[uint64]context.CancelFunc // top-level requests being served
	active   int                           // top-level requests holding a thread
	pending  int                           // top-level requests not yet answered
	err      error                         // why the connection closed; nil while open
	closing  bool                          // Close was called
	fdClosed bool
	shutdown bool
	drained  chan struct{} // closed when shutdown was requested and active == 0
	failed   chan struct{} // closed when the connection closed
}

// waiter is a goroutine that waits for frames: a caller waiting for its
// response (call != 0), or an idle serve worker (call == 0).
type waiter struct {
	call   uint64
	ctx    context.Context // the caller's context, for nested requests
	queue  []Frame
	wake   chan struct{}
	parked bool
	// resumes is set on a call made by a goroutine that serves a request
	// it read itself: after the response it goes back to reading, so
	// reading the response need not wake another reader.
	resumes bool
	// handoff wakes another reader if this one is away too long. It is
	// created under Conn.mu and read without it.
	handoff atomic.Pointer[time.Timer]
}

// NewConn takes ownership of the stream socket fd, which must be in
// blocking mode.
func NewConn(fd int, opts Options) *Conn {
	max := opts.MaxPayload
	if max == 0 {
		max = DefaultMaxPayload
	}
	if opts.BaseContext == nil {
		opts.BaseContext = context.Background()
	}
	return &Conn{
		fd:       fd,
		opts:     opts,
		max:      max,
		rd:       reader{buf: make([]byte, 64<<10)},
		calls:    make(map[uint64]*waiter),
		inflight: make(map[uint64]context.CancelFunc),
		drained:  make(chan struct{}),
		failed:   make(chan struct{}),
	}
}

// ThreadPool bounds the top-level requests served at once across the
// Conns that share it, as an enclave's NumTCS bounds its threads whatever
// channel an ecall arrives on.
type ThreadPool struct {
	n   atomic.Int64
	max int64
}

// NewThreadPool returns a pool of n threads.
func NewThreadPool(n int) *ThreadPool { return &ThreadPool{max: int64(n)} }

func (p *ThreadPool) acquire() bool {
	if p.n.Add(1) > p.max {
		p.n.Add(-1)
		return false
	}
	return true
}

func (p *ThreadPool) release() { p.n.Add(-1) }

type incomingKey struct{}

type incoming struct {
	conn *Conn
	id   uint64
	w    *waiter // the goroutine serving the request, if it may read
}

// Incoming reports whether ctx belongs to a request received on some Conn,
// and which: calls made with ctx on that Conn are nested in that request.
func Incoming(ctx context.Context) (c *Conn, id uint64, ok bool) {
	in, ok := ctx.Value(incomingKey{}).(incoming)
	return in.conn, in.id, ok
}

// Err returns the error that closed the connection, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Call sends a request for function fn with payload in and waits for the
// response. parent is the peer's request this call is nested in (0 for
// none). Requests nested in this call are served on the calling goroutine
// while it waits. The call always waits for its response; when ctx ends
// the peer is told to cancel the handler.
func (c *Conn) Call(ctx context.Context, parent uint64, fn uint32, in []byte) ([]byte, error) {
	if uint64(len(in)) > uint64(c.max) {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds limit %d", ErrInvalidParameter, len(in), c.max)
	}
	w := &waiter{ctx: ctx, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	w.call = c.nextID
	c.calls[w.call] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, w.call)
		c.mu.Unlock()
	}()
	// If this goroutine is serving a request it read itself, it reads for
	// itself again while it waits: no hand-off timer is needed meanwhile.
	if in, ok := ctx.Value(incomingKey{}).(incoming); ok && in.conn == c && in.w != nil {
		w.resumes = true
		in.w.disarmHandoff()
		defer func() {
			c.mu.Lock()
			in.w.armHandoff(c)
			c.mu.Unlock()
		}()
	}

	h := Header{Kind: KindRequest, Fn: fn, ID: w.call, Parent: parent}
	if d, ok := ctx.Deadline(); ok {
		h.Deadline = max(d.UnixNano(), 1)
	}
	if err := c.write(&h, in); err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		id := w.call
		stop := context.AfterFunc(ctx, func() {
			// A deadline travelled with the request and ends the
			// handler's context on its own (as DeadlineExceeded); only
			// an explicit cancellation needs a frame.
			if h.Deadline == 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				_ = c.write(&Header{Kind: KindCancel, ID: id}, nil)
			}
		})
		defer stop()
	}
	for {
		f, err := c.next(w)
		if err != nil {
			return nil, err
		}
		if f.Kind == KindResponse {
			if f.Status == StatusOK {
				return f.Payload, nil
			}
			if f.Status >= statusMax {
				return nil, &RemoteError{Status: StatusFailed, Fn: fn, Message: fmt.Sprintf("unknown status %d", f.Status)}
			}
			return nil, &RemoteError{Status: f.Status, Fn: fn, Message: string(f.Payload)}
		}
		// A request nested in this call: serve it here, as the thread that
		// made the call would.
		c.serve(f, ctx, false, w)
	}
}

// Serve runs workers serve loops that read and serve top-level requests,
// and returns nil after a shutdown request once every request in progress
// has finished, or the error that closed the connection.
func (c *Conn) Serve(workers int) error {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- c.worker()
		}()
	}
	var err error
	select {
	case <-c.drained:
	case err = <-errc:
	}
	c.Close()
	wg.Wait()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	return err
}

func (c *Conn) worker() error {
	w := &waiter{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.idle = append(c.idle, w)
	c.mu.Unlock()
	for {
		f, err := c.next(w)
		if err != nil {
			return err
		}
		c.serve(f, nil, true, w)
		c.mu.Lock()
		c.idle = append(c.idle, w)
		c.mu.Unlock()
	}
}

// Shutdown asks the peer to stop serving.
func (c *Conn) Shutdown() error {
	return c.write(&Header{Kind: KindShutdown}, nil)
}

// Drain stops serving as a shutdown request from the peer does: new
// top-level requests are refused with StatusShuttingDown. It waits until
// those in progress have been answered, the connection closes, or ctx
// ends.
func (c *Conn) Drain(ctx context.Context) error {
	c.mu.Lock()
	c.shutdown = true
	c.checkDrainedLocked()
	c.mu.Unlock()
	select {
	case <-c.drained:
		return nil
	case <-c.failed:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the connection: blocked calls return ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closing = true
	if c.err == nil {
		c.failLocked(ErrClosed)
	}
	if !c.fdClosed {
		// Unblock a reader stuck in read(2) and a writer stuck in
		// write(2); the descriptor is closed once nobody reads it.
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	closeNow := !c.reading
	c.mu.Unlock()
	if closeNow {
		c.closeFD()
	}
	return nil
}

// Fail closes the connection with err (for example when the peer process
// is known to have died).
func (c *Conn) Fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.failLocked(err)
	}
	c.mu.Unlock()
	c.Close()
}

// closeFD closes the descriptor unless a reader still uses it; writers are
// excluded by wmu (a blocked writer was woken by shutdown(2)).
func (c *Conn) closeFD() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fdClosed && !c.reading {
		c.fdClosed = true
		unix.Close(c.fd)
	}
}

// failLocked records err as the reason the connection closed and wakes
// every waiter. c.mu is held.
func (c *Conn) failLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	close(c.failed)
	for _, w := range c.parked {
		w.parked = false
		w.wake <- struct{}{}
	}
	c.parked = nil
	for _, cancel := range c.inflight {
		cancel()
	}
	if f := c.opts.OnFail; f != nil {
		go f(err)
	}
}

// next returns the next frame for w: for a caller, its response or a
// request nested in its call; for an idle worker, a top-level request.
func (c *Conn) next(w *waiter) (Frame, error) {
	w.disarmHandoff()
	for {
		c.mu.Lock()
		if len(w.queue) > 0 {
			f := w.queue[0]
			w.queue[0] = Frame{}
			w.queue = w.queue[1:]
			c.mu.Unlock()
			return f, nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return Frame{}, err
		}
		if c.reading {
			w.parked = true
			c.parked = append(c.parked, w)
			c.mu.Unlock()
			<-w.wake
			continue
		}
		c.reading = true
		c.mu.Unlock()

		f, err := c.rd.frame(c.fd, c.max)

		c.mu.Lock()
		c.reading = false
		if c.closing {
			err := c.err
			c.mu.Unlock()
			c.closeFD()
			return Frame{}, err
		}
		if err != nil {
			c.failLocked(err)
			c.mu.Unlock()
			return Frame{}, err
		}
		mine, reply := c.routeLocked(f, w)
		if mine {
			if f.Kind == KindResponse {
				// This goroutine stops reading: let another lead, unless
				// it resumes reading soon (Call arms its hand-off timer).
				if !w.resumes {
					c.wakeOneLocked()
				}
			} else {
				// It serves a request and comes back to read. Most
				// requests are short, so hand the reader role over only
				// if it is still away after handoffDelay: a short call
				// then costs no wake-up of another thread.
				w.armHandoff(c)
			}
		}
		c.mu.Unlock()
		if reply != nil {
			_ = c.write(reply, nil)
		}
		if mine {
			return f, nil
		}
	}
}

// handoffDelay is how long a goroutine that read a request for itself may
// keep the socket unread while it serves the request.
const handoffDelay = 50 * time.Microsecond

// armHandoff starts w's hand-off timer. c.mu is held.
func (w *waiter) armHandoff(c *Conn) {
	t := w.handoff.Load()
	if t == nil {
		t = time.AfterFunc(time.Hour, func() {
			c.mu.Lock()
			if !c.reading && c.err == nil {
				c.wakeOneLocked()
			}
			c.mu.Unlock()
		})
		w.handoff.Store(t)
	}
	t.Reset(handoffDelay)
}

func (w *waiter) disarmHandoff() {
	if t := w.handoff.Load(); t != nil {
		t.Stop()
	}
}

// wakeOneLocked wakes one parked waiter so that it takes the reader role.
func (c *Conn) wakeOneLocked() {
	n := len(c.parked)
	if n == 0 {
		return
	}
	w := c.parked[n-1]
	c.parked[n-1] = nil
	c.parked = c.parked[:n-1]
	w.parked = false
	w.wake <- struct{}{}
}

// deliverLocked queues f for w and wakes w if it is parked.
func (c *Conn) deliverLocked(w *waiter, f Frame) {
	w.queue = append(w.queue, f)
	if w.parked {
		for i, p := range c.parked {
			if p == w {
				c.parked = append(c.parked[:i], c.parked[i+1:]...)
				break
			}
		}
		w.parked = false
		w.wake <- struct{}{}
	}
}

// routeLocked decides where a frame read by reader r goes. It returns mine
// when r itself must handle f, and a header to send back when the frame is
// answered at once (a refused request).
func (c *Conn) routeLocked(f Frame, r *waiter) (mine bool, reply *Header) {
	refuse := func(s Status) *Header {
		return &Header{Kind: KindResponse, ID: f.ID, Status: s}
	}
	switch f.Kind {
	case KindResponse:
		w := c.calls[f.ID]
		if w == nil {
			c.failLocked(&FrameError{Reason: fmt.Sprintf("response to unknown call %d", f.ID)})
			return false, nil
		}
		if w == r {
			return true, nil
		}
		c.deliverLocked(w, f)
	case KindRequest:
		if f.Parent != 0 {
			if c.opts.RejectNested {
				return false, refuse(StatusReentrant)
			}
			w := c.calls[f.Parent]
			if w == nil {
				return false, refuse(StatusInvalidParameter)
			}
			if w == r {
				return true, nil
			}
			c.deliverLocked(w, f)
			return false, nil
		}
		switch {
		case c.shutdown:
			return false, refuse(StatusShuttingDown)
		case c.opts.Threads > 0 && c.active >= c.opts.Threads:
			return false, refuse(StatusOutOfThreads)
		}
		if _, dup := c.inflight[f.ID]; dup {
			return false, refuse(StatusInvalidParameter)
		}
		if c.opts.Pool != nil && !c.opts.Pool.acquire() {
			return false, refuse(StatusOutOfThreads)
		}
		c.active++
		c.pending++
		c.inflight[f.ID] = nil // reserved; serve sets the cancel func
		if r.call == 0 && c.opts.Threads > 0 {
			c.removeIdleLocked(r)
			return true, nil
		}
		if c.opts.Threads > 0 && len(c.idle) > 0 {
			w := c.idle[len(c.idle)-1]
			c.removeIdleLocked(w)
			c.deliverLocked(w, f)
			return false, nil
		}
		go c.serve(f, nil, true, nil)
	case KindCancel:
		if cancel := c.inflight[f.ID]; cancel != nil {
			cancel()
		}
	case KindShutdown:
		c.shutdown = true
		c.checkDrainedLocked()
	default: // KindHello after the handshake
		c.failLocked(&FrameError{Reason: "unexpected " + f.Kind.String() + " frame"})
	}
	return false, nil
}

func (c *Conn) removeIdleLocked(w *waiter) {
	for i, p := range c.idle {
		if p == w {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			return
		}
	}
}

func (c *Conn) checkDrainedLocked() {
	if c.shutdown && c.pending == 0 {
		select {
		case <-c.drained:
		default:
			close(c.drained)
		}
	}
}

// serve runs the handler for request f and writes the response. callCtx
// is the context of the call f is nested in (nil for a top-level request).
func (c *Conn) serve(f Frame, callCtx context.Context, top bool, w *waiter) {
	if !top {
		ctx := context.WithValue(callCtx, incomingKey{}, incoming{conn: c, id: f.ID, w: w})
		out, status, msg := c.invoke(ctx, f)
		c.respond(f.ID, out, status, msg)
		return
	}
	ctx, cancel := context.WithCancel(c.opts.BaseContext)
	if f.Deadline > 0 {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, time.Unix(0, f.Deadline))
		defer cancelDeadline()
	}
	defer cancel()
	c.mu.Lock()
	if c.err != nil {
		cancel()
	}
	c.inflight[f.ID] = cancel
	c.mu.Unlock()
	ctx = context.WithValue(ctx, incomingKey{}, incoming{conn: c, id: f.ID, w: w})
	out, status, msg := c.invoke(ctx, f)
	// The thread (TCS) is released before the response goes out, as SGX
	// frees a TCS at EEXIT: a caller that has the response may call again
	// at once. Shutdown waits for the response to be written.
	c.mu.Lock()
	delete(c.inflight, f.ID)
	c.active--
	c.mu.Unlock()
	if c.opts.Pool != nil {
		c.opts.Pool.release()
	}
	c.respond(f.ID, out, status, msg)
	c.mu.Lock()
	c.pending--
	c.checkDrainedLocked()
	c.mu.Unlock()
}

func (c *Conn) respond(id uint64, out []byte, status Status, msg string) {
	resp := Header{Kind: KindResponse, ID: id, Status: status}
	if status != StatusOK {
		out = []byte(msg)
	}
	if uint64(len(out)) > uint64(c.max) {
		resp.Status, out = StatusFailed, []byte("response exceeds payload limit")
	}
	_ = c.write(&resp, out)
}

// invoke runs the handler, turning errors and panics into statuses. A
// panic's value never crosses the boundary: it may hold secrets.
func (c *Conn) invoke(ctx context.Context, f Frame) (out []byte, status Status, msg string) {
	h := c.opts.Handler
	if h == nil {
		return nil, StatusUnknownFunction, ""
	}
	defer func() {
		if p := recover(); p != nil {
			_ = debug.Stack // the stack stays on this side
			out, status, msg = nil, StatusPanic, ""
		}
	}()
	out, err := h(ctx, f.Fn, f.Payload)
	if err != nil {
		status, msg = statusOf(err)
		return nil, status, msg
	}
	return out, StatusOK, ""
}

// write sends one frame. Small frames go out in one write(2) from a
// reused buffer; large payloads are written with writev, without copying.
func (c *Conn) write(h *Header, payload []byte) error {
	if uint64(len(payload)) > uint64(c.max) {
		return fmt.Errorf("%w: payload of %d bytes exceeds limit %d", ErrInvalidParameter, len(payload), c.max)
	}
	h.Length = uint32(len(payload))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	err, closed := c.err, c.fdClosed
	c.mu.Unlock()
	if closed || (err != nil && h.Kind != KindResponse) {
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	const small = 16 << 10
	if len(payload) <= small {
		if cap(c.wbuf) < HeaderSize+small {
			c.wbuf = make([]byte, 0, HeaderSize+small)
		}
		b := c.wbuf[:HeaderSize]
		PutHeader(b, h)
		b = append(b, payload...)
		return c.writeAll(b)
	}
	var hdr [HeaderSize]byte
	PutHeader(hdr[:], h)
	iov := [][]byte{hdr[:], payload}
	for len(iov) > 0 {
		n, err := unix.Writev(c.fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return c.writeFailed(err)
		}
		for n > 0 && len(iov) > 0 {
			if n >= len(iov[0]) {
				n -= len(iov[0])
				iov = iov[1:]
			} else {
				iov[0] = iov[0][n:]
				n = 0
			}
		}
	}
	return nil
}

func (c *Conn) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return c.writeFailed(err)
		}
		b = b[n:]
	}
	return nil
}

func (c *Conn) writeFailed(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.failLocked(fmt.Errorf("boundary: write: %w", err))
	}
	return c.err
}

// reader buffers reads from the socket. Only the reader-role holder uses it.
type reader struct {
	buf  []byte
	r, w int
}

// frame reads one frame. Payloads are copied out of the buffer, or read
// straight into their own slice when they are larger than what is buffered.
func (rd *reader) frame(fd int, max uint32) (Frame, error) {
	for rd.w-rd.r < HeaderSize {
		if err := rd.fill(fd); err != nil {
			if err == io.EOF && rd.w > rd.r {
				err = &FrameError{Reason: "connection closed in the middle of a frame"}
			}
			return Frame{}, err
		}
	}
	h, err := ParseHeader(rd.buf[rd.r:rd.w], max)
	if err != nil {
		return Frame{}, err
	}
	rd.r += HeaderSize
	f := Frame{Header: h}
	if n := int(h.Length); n > 0 {
		f.Payload = make([]byte, n)
		k := copy(f.Payload, rd.buf[rd.r:rd.w])
		rd.r += k
		for k < n {
			m, err := unix.Read(fd, f.Payload[k:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return Frame{}, fmt.Errorf("boundary: read: %w", err)
			}
			if m == 0 {
				return Frame{}, &FrameError{Reason: "connection closed in the middle of a frame"}
			}
			k += m
		}
	}
	if rd.r == rd.w {
		rd.r, rd.w = 0, 0
	}
	return f, nil
}

func (rd *reader) fill(fd int) error {
	if rd.w == len(rd.buf) {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	for {
		n, err := unix.Read(fd, rd.buf[rd.w:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("boundary: read: %w", err)
		}
		if n == 0 {
			return io.EOF
		}
		rd.w += n
		return nil
	}
}
