package benchboundary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
)

// Kind is a kind of call across (or, for the floors, not across) the
// boundary.
type Kind string

// The kinds of call measured, in table order.
const (
	// KindFunc is a plain in-process function call: the floor.
	KindFunc Kind = "func"
	// KindSocketPair is a raw request/response over a socket pair with a
	// second process, with blocking read(2)/write(2) and no framing
	// beyond an 8-byte header: the floor for a process boundary.
	KindSocketPair Kind = "socketpair"
	// KindEcall is a regular ecall (host.Enclave.Call).
	KindEcall Kind = "ecall"
	// KindEcallSwitchless is a switchless ecall (CallSwitchless).
	KindEcallSwitchless Kind = "ecall-switchless"
	// KindOcall is a regular ocall (enclave.Ocall), timed in the enclave.
	KindOcall Kind = "ocall"
	// KindOcallSwitchless is a switchless ocall (enclave.OcallSwitchless),
	// timed in the enclave.
	KindOcallSwitchless Kind = "ocall-switchless"
)

// Kinds lists every kind, in table order.
var Kinds = []Kind{KindFunc, KindSocketPair, KindEcall, KindEcallSwitchless, KindOcall, KindOcallSwitchless}

// Defaults for Options.
const (
	DefaultDuration = time.Second
	DefaultMaxCalls = 2_000_000
)

// DefaultPayloads and DefaultCallers are the sizes and concurrency levels
// measured when Options leaves them empty.
var (
	DefaultPayloads = []int{0, 64, 4 << 10, 1 << 20}
	DefaultCallers  = []int{1, 2, 4}
)

// MaxPayload bounds a payload: it must fit a switchless slot with room to
// spare.
const MaxPayload = 1 << 20

// MaxCallers bounds the number of concurrent callers.
const MaxCallers = 64

// switchlessOptions are the switchless settings of the enclave loaded
// for the switchless rows.
var switchlessOptions = host.SwitchlessOptions{EnclaveWorkers: 1, HostWorkers: 1, SlotSize: 2 << 20}

var (
	// ErrOptions reports options that cannot be measured.
	ErrOptions = errors.New("benchboundary: invalid options")
	// ErrWrongResult reports a call that returned something else than
	// the callee must return: a measurement of a broken call is not one.
	ErrWrongResult = errors.New("benchboundary: call returned a wrong result")
)

// Options configure Run.
type Options struct {
	// Duration bounds the measurement of each row (after a warm-up of a
	// tenth of it, at most 250 ms). Zero means DefaultDuration.
	Duration time.Duration
	// MaxCalls bounds the number of calls measured in each row. Zero means
	// DefaultMaxCalls.
	MaxCalls int
	// Payloads are the payload sizes in bytes, each at most MaxPayload.
	// Nil means DefaultPayloads.
	Payloads []int
	// Callers are the numbers of concurrent callers, each in
	// 1..MaxCallers. Nil means DefaultCallers.
	Callers []int
	// Kinds selects the kinds of call. Nil means Kinds (all).
	Kinds []Kind
	// Echo makes every callee return the payload (in and out). Zero: the
	// payload goes in only and the callee returns its length in 8 bytes
	// (an [in] buffer, builtin.FnSink).
	Echo bool
	// Image is the path of a signed image serving the built-in bench
	// enclave (builtin.ProductBench) with NumTCS at least the largest
	// Callers. Empty means: sign the running executable with
	// builtin.SignSelf and a fresh key; the executable must then serve
	// the built-in enclaves when started as one (as cmd/confide does).
	Image string
	// SimDir is the simulated platform's state directory for the
	// enclaves. Empty means a temporary directory, removed afterwards.
	SimDir string
	// Peer returns the command that serves the socket-pair peer
	// (ServePeer) on sockets descriptors from 3 up. Run adds the
	// sockets as ExtraFiles. Nil means the socket-pair rows fail with
	// ErrOptions.
	Peer func(sockets int) *exec.Cmd
	// Now gives the date of the report. Nil means time.Now. Latencies are
	// always measured with the monotonic clock.
	Now func() time.Time
}

// Row is one measured row: a kind of call, a payload size and a number
// of concurrent callers.
type Row struct {
	Kind    Kind `json:"kind"`
	Payload int  `json:"payload_bytes"`
	Callers int  `json:"callers"`
	// Calls is the number of calls measured.
	Calls uint64 `json:"calls"`
	// P50, P99 and Max are round-trip times in nanoseconds.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// CallsPerSec is the number of calls completed per second of wall
	// time, all callers together.
	CallsPerSec float64 `json:"calls_per_sec"`
	// BytesPerSec is CallsPerSec times the payload bytes moved per call
	// (twice the payload with Echo; none for KindFunc, which passes a
	// slice).
	BytesPerSec float64 `json:"bytes_per_sec"`
}

// SwitchlessSettings are the host.SwitchlessOptions of the enclave of the
// switchless rows, as reported.
type SwitchlessSettings struct {
	EnclaveWorkers int `json:"enclave_workers"`
	HostWorkers    int `json:"host_workers"`
	// SlotSize is the payload capacity of a slot in bytes.
	SlotSize int `json:"slot_size"`
}

// Report is the result of Run.
type Report struct {
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// Duration and MaxCalls bound each row; Echo says whether payloads
	// came back.
	Duration time.Duration `json:"duration_ns"`
	MaxCalls int           `json:"max_calls"`
	Echo     bool          `json:"echo"`
	// Switchless are the switchless settings of the switchless rows.
	Switchless SwitchlessSettings `json:"switchless"`
	Rows       []Row              `json:"rows"`
}

// Row returns the row for kind, payload and callers, if it was measured.
func (r *Report) Row(kind Kind, payload, callers int) (Row, bool) {
	for _, row := range r.Rows {
		if row.Kind == kind && row.Payload == payload && row.Callers == callers {
			return row, true
		}
	}
	return Row{}, false
}

// Run measures every selected kind of call for every payload size and
// number of callers, one row after the other, and returns the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Date:     o.Now().UTC(),
		Machine:  ReadMachine(),
		Duration: o.Duration,
		MaxCalls: o.MaxCalls,
		Echo:     o.Echo,
		Switchless: SwitchlessSettings{
			EnclaveWorkers: switchlessOptions.EnclaveWorkers,
			HostWorkers:    switchlessOptions.HostWorkers,
			SlotSize:       switchlessOptions.SlotSize,
		},
	}
	r := &runner{opts: o}
	defer r.close()
	for _, kind := range o.Kinds {
		for _, callers := range o.Callers {
			for _, payload := range o.Payloads {
				row, err := r.row(ctx, kind, payload, callers)
				if err != nil {
					return nil, fmt.Errorf("benchboundary: %s, %d bytes, %d callers: %w", kind, payload, callers, err)
				}
				rep.Rows = append(rep.Rows, row)
			}
		}
	}
	return rep, nil
}

func (opts Options) withDefaults() (Options, error) {
	o := opts
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.MaxCalls == 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.Payloads == nil {
		o.Payloads = DefaultPayloads
	}
	if o.Callers == nil {
		o.Callers = DefaultCallers
	}
	if o.Kinds == nil {
		o.Kinds = Kinds
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Duration < 0:
		return o, fmt.Errorf("%w: negative duration %v", ErrOptions, o.Duration)
	case o.MaxCalls < 0:
		return o, fmt.Errorf("%w: negative call bound %d", ErrOptions, o.MaxCalls)
	case len(o.Payloads) == 0 || len(o.Callers) == 0 || len(o.Kinds) == 0:
		return o, fmt.Errorf("%w: nothing to measure", ErrOptions)
	}
	for _, p := range o.Payloads {
		if p < 0 || p > MaxPayload {
			return o, fmt.Errorf("%w: payload of %d bytes out of range 0..%d", ErrOptions, p, MaxPayload)
		}
	}
	for _, c := range o.Callers {
		if c < 1 || c > MaxCallers {
			return o, fmt.Errorf("%w: %d callers out of range 1..%d", ErrOptions, c, MaxCallers)
		}
	}
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds, k) {
			return o, fmt.Errorf("%w: unknown kind %q", ErrOptions, k)
		}
		if k == KindSocketPair && o.Peer == nil {
			return o, fmt.Errorf("%w: the socket-pair rows need a peer command", ErrOptions)
		}
	}
	return o, nil
}

// ParseKind parses the name of a kind.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("%w: unknown kind %q", ErrOptions, s)
}

// runner holds what rows share: the enclaves and the socket-pair peer,
// started on first use.
type runner struct {
	opts     Options
	image    string
	simDir   string
	cleanups []func()
	regular  *host.Enclave
	sw       *host.Enclave
	peers    map[int]*peer // by number of sockets
}

// peer is a running socket-pair peer process with one socket per caller.
type peer struct {
	fds []int
	cmd *exec.Cmd
}

func (p *peer) stop() {
	for _, fd := range p.fds {
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}
	p.cmd.Wait()
}

func (r *runner) close() {
	for _, p := range r.peers {
		p.stop()
	}
	for _, e := range []*host.Enclave{r.regular, r.sw} {
		if e != nil {
			e.Close()
		}
	}
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
}

// caller makes one call and records its round-trip time(s) in h. It
// returns the number of calls made.
type caller func(ctx context.Context, h *Histogram) (int, error)

func (r *runner) row(ctx context.Context, kind Kind, payload, callers int) (Row, error) {
	mk, err := r.callers(ctx, kind, payload, callers)
	if err != nil {
		return Row{}, err
	}
	h, calls, elapsed, err := measure(ctx, callers, r.opts.Duration, r.opts.MaxCalls, mk)
	if err != nil {
		return Row{}, err
	}
	row := Row{Kind: kind, Payload: payload, Callers: callers, Calls: calls,
		P50: h.Quantile(0.5), P99: h.Quantile(0.99), Max: h.Max()}
	if elapsed > 0 {
		row.CallsPerSec = float64(calls) / elapsed.Seconds()
		moved := payload
		if r.opts.Echo {
			moved *= 2
		}
		if kind == KindFunc {
			moved = 0 // a slice is passed, nothing is moved
		}
		row.BytesPerSec = row.CallsPerSec * float64(moved)
	}
	return row, nil
}

// maxWarmup bounds the warm-up of a row.
const maxWarmup = 250 * time.Millisecond

// callers returns the constructor of the callers of a row.
func (r *runner) callers(ctx context.Context, kind Kind, payload, callers int) (func(i int) caller, error) {
	in := make([]byte, payload)
	for i := range in {
		in[i] = byte(i)
	}
	switch kind {
	case KindFunc:
		return func(int) caller { return r.funcCaller(in) }, nil
	case KindSocketPair:
		return r.socketPair(in, callers)
	case KindEcall, KindEcallSwitchless, KindOcall, KindOcallSwitchless:
		switchless := kind == KindEcallSwitchless || kind == KindOcallSwitchless
		e, err := r.enclave(ctx, switchless)
		if err != nil {
			return nil, err
		}
		if kind == KindOcall || kind == KindOcallSwitchless {
			return func(int) caller { return r.ocallCaller(e, switchless, in) }, nil
		}
		return func(int) caller { return r.ecallCaller(e, switchless, in) }, nil
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrOptions, kind)
}

// measure runs callers goroutines, each making calls in a loop: first a
// warm-up that is not recorded (at least one call, then until d/10, at
// most maxWarmup, has passed or maxCalls/10 calls were made), then until d has passed or
// maxCalls calls have been made in all. It returns the merged histogram,
// the number of calls measured and the wall time of the measurement.
func measure(ctx context.Context, callers int, d time.Duration, maxCalls int, mk func(i int) caller) (*Histogram, uint64, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		warm     sync.WaitGroup // callers still warming up
		startMu  sync.Mutex
		start    time.Time
		begin    = make(chan struct{})
		total    atomic.Int64
		hists    = make([]*Histogram, callers)
		errs     = make([]error, callers)
		warmup   = min(d/10, maxWarmup)
		warmMax  = max(maxCalls/10, 1) // warm-up calls per caller
		lastDone = make([]time.Time, callers)
	)
	warm.Add(callers)
	for i := range callers {
		call := mk(i)
		hists[i] = new(Histogram)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch Histogram
			t0 := time.Now()
			for n := 0; n == 0 || (n < warmMax && time.Since(t0) < warmup); {
				m, err := call(ctx, &scratch)
				if err != nil {
					errs[i] = err
					cancel()
					break
				}
				n += m
			}
			warm.Done()
			<-begin
			if errs[i] != nil {
				return
			}
			startMu.Lock()
			s := start
			startMu.Unlock()
			for ctx.Err() == nil && time.Since(s) < d && total.Load() < int64(maxCalls) {
				n, err := call(ctx, hists[i])
				total.Add(int64(n))
				if err != nil {
					errs[i] = err
					cancel()
					return
				}
			}
			lastDone[i] = time.Now()
		}()
	}
	// Every caller has warmed up before the clock starts, so that the
	// measured window has all of them calling.
	warm.Wait()
	startMu.Lock()
	start = time.Now()
	startMu.Unlock()
	close(begin)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, err
	}
	h := new(Histogram)
	var end time.Time
	for i := range callers {
		h.Merge(hists[i])
		if lastDone[i].After(end) {
			end = lastDone[i]
		}
	}
	return h, h.Count(), end.Sub(start), nil
}

// sinkResult is what builtin.FnSink (and the sink callees here) return.
func sinkResult(n int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

// checkResult checks a callee's answer to a payload of n bytes.
func checkResult(out []byte, n int, echo bool) error {
	if echo {
		if len(out) != n {
			return fmt.Errorf("%w: %d bytes back for %d", ErrWrongResult, len(out), n)
		}
		return nil
	}
	if len(out) != 8 || binary.LittleEndian.Uint64(out) != uint64(n) {
		return fmt.Errorf("%w: sink answered %x for %d bytes", ErrWrongResult, out, n)
	}
	return nil
}

//go:noinline
func echoFunc(in []byte) []byte { return in }

//go:noinline
func sinkFunc(in []byte) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(in)))
	return b[:]
}

func (r *runner) funcCaller(in []byte) caller {
	f := sinkFunc
	if r.opts.Echo {
		f = echoFunc
	}
	return func(ctx context.Context, h *Histogram) (int, error) {
		t := time.Now()
		out := f(in)
		h.Record(time.Since(t))
		return 1, checkResult(out, len(in), r.opts.Echo)
	}
}

// startPeer starts a peer process with one socket pair per caller.
func (r *runner) startPeer(callers int) (*peer, error) {
	p := &peer{}
	var theirs []*os.File
	defer func() {
		for _, f := range theirs {
			f.Close()
		}
	}()
	for range callers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			for _, fd := range p.fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("socketpair: %w", err)
		}
		p.fds = append(p.fds, fds[0])
		theirs = append(theirs, os.NewFile(uintptr(fds[1]), "peer"))
	}
	p.cmd = r.opts.Peer(callers)
	p.cmd.ExtraFiles = theirs
	if err := p.cmd.Start(); err != nil {
		for _, fd := range p.fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("start peer: %w", err)
	}
	return p, nil
}

// socketPair returns the callers of a socket-pair row, on a peer process
// started for the first row with that many callers and kept for the
// others (as the enclaves are).
func (r *runner) socketPair(in []byte, callers int) (func(i int) caller, error) {
	p := r.peers[callers]
	if p == nil {
		var err error
		if p, err = r.startPeer(callers); err != nil {
			return nil, err
		}
		if r.peers == nil {
			r.peers = map[int]*peer{}
		}
		r.peers[callers] = p
	}
	mine := p.fds
	req := make([]byte, peerHeader+len(in))
	putPeerHeader(req, len(in), r.opts.Echo)
	copy(req[peerHeader:], in)
	mk := func(i int) caller {
		fd := mine[i]
		hdr := make([]byte, peerHeader)
		resp := make([]byte, len(in)+8)
		return func(ctx context.Context, h *Histogram) (int, error) {
			t := time.Now()
			if err := writeFull(fd, req); err != nil {
				return 0, fmt.Errorf("socket pair: %w", err)
			}
			if err := readFull(fd, hdr); err != nil {
				return 0, fmt.Errorf("socket pair: %w", err)
			}
			n, _, err := parsePeerHeader(hdr)
			if err != nil {
				return 0, err
			}
			if n > len(resp) {
				return 0, fmt.Errorf("%w: %d bytes back", ErrWrongResult, n)
			}
			if err := readFull(fd, resp[:n]); err != nil {
				return 0, fmt.Errorf("socket pair: %w", err)
			}
			h.Record(time.Since(t))
			return 1, checkResult(resp[:n], len(in), r.opts.Echo)
		}
	}
	return mk, nil
}

// enclave returns the enclave for the regular or the switchless rows,
// loading it on first use.
func (r *runner) enclave(ctx context.Context, switchless bool) (*host.Enclave, error) {
	if switchless && r.sw != nil {
		return r.sw, nil
	}
	if !switchless && r.regular != nil {
		return r.regular, nil
	}
	if r.image == "" {
		if err := r.prepare(); err != nil {
			return nil, err
		}
	}
	echo := r.opts.Echo
	opts := host.Options{
		SimDir: r.simDir,
		Ocalls: map[uint32]host.OcallFunc{builtin.OcallBench: func(ctx context.Context, in []byte) ([]byte, error) {
			if echo {
				return in, nil
			}
			return sinkResult(len(in)), nil
		}},
	}
	if switchless {
		so := switchlessOptions
		opts.Switchless = &so
	}
	e, err := host.Load(ctx, r.image, opts)
	if err != nil {
		return nil, err
	}
	if e.Config().ProductID != builtin.ProductBench {
		e.Close()
		return nil, fmt.Errorf("%w: image has product ID %#x, not the bench enclave's %#x", ErrOptions, e.Config().ProductID, builtin.ProductBench)
	}
	if switchless {
		r.sw = e
	} else {
		r.regular = e
	}
	return e, nil
}

// EnclaveConfig returns the config the bench enclave is signed with when
// Options.Image is empty, for at most callers concurrent callers.
func EnclaveConfig(callers int) image.Config {
	cfg := image.DefaultConfig()
	cfg.ProductID = builtin.ProductBench
	cfg.NumTCS = uint32(max(callers, image.DefaultNumTCS))
	return cfg
}

// prepare signs the running executable and makes the simulator directory.
func (r *runner) prepare() error {
	r.simDir = r.opts.SimDir
	if r.simDir == "" {
		d, err := os.MkdirTemp("", "confide-bench-")
		if err != nil {
			return err
		}
		r.cleanups = append(r.cleanups, func() { os.RemoveAll(d) })
		r.simDir = filepath.Join(d, "sim")
	}
	r.image = r.opts.Image
	if r.image != "" {
		return nil
	}
	key, err := image.GenerateKey(image.KeyECDSAP256)
	if err != nil {
		return err
	}
	path, cleanup, err := builtin.SignSelf(EnclaveConfig(slices.Max(r.opts.Callers)), key)
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, cleanup)
	r.image = path
	return nil
}

func (r *runner) ecallCaller(e *host.Enclave, switchless bool, in []byte) caller {
	call := e.Call
	if switchless {
		call = e.CallSwitchless
	}
	fn := builtin.FnSink
	if r.opts.Echo {
		fn = builtin.FnEcho
	}
	return func(ctx context.Context, h *Histogram) (int, error) {
		t := time.Now()
		out, err := call(ctx, fn, in)
		h.Record(time.Since(t))
		if err != nil {
			return 0, err
		}
		return 1, checkResult(out, len(in), r.opts.Echo)
	}
}

// ocallBatch is the number of ocalls one ecall makes in the ocall rows:
// enough to make the ecall's own cost small, few enough that a row's time
// bound is kept.
func ocallBatch(payload int) int {
	if payload >= 256<<10 {
		return 4
	}
	return 64
}

func (r *runner) ocallCaller(e *host.Enclave, switchless bool, in []byte) caller {
	fn := builtin.FnOcalls
	if switchless {
		fn = builtin.FnOcallsSwitchless
	}
	batch := ocallBatch(len(in))
	req, err := builtin.OcallsRequest(batch, in)
	return func(ctx context.Context, h *Histogram) (int, error) {
		if err != nil {
			return 0, err
		}
		out, err := e.Call(ctx, fn, req)
		if err != nil {
			return 0, err
		}
		ds, err := builtin.ParseOcallTimes(out, batch)
		if err != nil {
			return 0, err
		}
		for _, d := range ds {
			h.Record(d)
		}
		return batch, nil
	}
}

// goVersion is reported in Machine.
func goVersion() string { return runtime.Version() }
