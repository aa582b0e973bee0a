package host

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/boundary"
)

// OcallFunc serves one ocall from the enclave. ctx is the context of the
// ecall the ocall is nested in (if any), and marks the goroutine as being
// inside an ocall: an ecall made with it is refused.
type OcallFunc func(ctx context.Context, in []byte) ([]byte, error)

// Options configure Load.
type Options struct {
	// Debug allows loading a debug-signed image, and an unsigned image,
	// which is then treated as debug with Config (as Open Enclave does).
	// Zero: only images signed with Debug=0 load.
	Debug bool
	// Config is the config assumed for an unsigned image (Debug is forced
	// on). Nil means image.DefaultConfig.
	Config *image.Config
	// Platform forces a platform: "sim" for the simulated SGX platform.
	// Empty: the enclave detects its platform (simulated when no hardware).
	Platform string
	// SimDir is the simulated platform's state directory. Empty means the
	// simulator's default location.
	SimDir string
	// Ocalls maps function IDs to the host functions the enclave may call.
	Ocalls map[uint32]OcallFunc
	// Stdout receives what the enclave prints. Nil means os.Stdout.
	Stdout io.Writer
	// Stderr receives a debug enclave's own standard error (for example a
	// Go panic trace). A release enclave's stderr always goes nowhere, as
	// its text could carry secrets. Nil means os.Stderr.
	Stderr io.Writer
	// StartTimeout bounds the handshake. Zero means 30 seconds.
	StartTimeout time.Duration
	// Switchless, if set, enables switchless calls: a shared-memory region
	// polled by worker threads on both sides (see SwitchlessOptions).
	Switchless *SwitchlessOptions
	// CloseTimeout is how long Close waits for a graceful exit before it
	// kills the enclave. Zero means 5 seconds.
	CloseTimeout time.Duration
	// Dial opens the stream connections the enclave asks for with
	// enclave.Dial (TCP only). The host relays bytes and sees only what
	// the enclave writes: an enclave that runs TLS itself keeps the
	// plaintext inside. Dial decides which addresses are allowed. Nil
	// means the enclave may not open connections (ErrNetworkDenied).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// SwitchlessOptions configure switchless calls. Functions marked
// transition_using_threads in EDL (CallSwitchless, enclave.OcallSwitchless)
// go through shared memory to a polling worker instead of the socket; when
// no worker or slot is free, or the payload does not fit a slot, the call
// falls back to the regular path, as in Open Enclave.
type SwitchlessOptions struct {
	// EnclaveWorkers is the number of enclave threads polling for
	// switchless ecalls. Zero means 1.
	EnclaveWorkers int
	// HostWorkers is the number of host goroutines polling for switchless
	// ocalls. Zero means 1.
	HostWorkers int
	// Slots is the number of calls that can be in flight per direction.
	// Zero means 8.
	Slots int
	// SlotSize is the payload capacity of a slot, rounded up to 4 KiB.
	// Zero means 1 MiB + 64 KiB.
	SlotSize int
	// AllCalls makes every Call try the switchless path first.
	AllCalls bool
}

// Errors. Those that cross the boundary as codes are the same values as in
// package enclave.
var (
	// ErrEnclaveLost matches *LostError: the enclave process is gone.
	ErrEnclaveLost = errors.New("host: enclave lost")
	// ErrDebugImage is returned for a debug-signed image loaded without
	// Options.Debug.
	ErrDebugImage = errors.New("host: image is signed for debug; load it with Options.Debug")
	// ErrIdentityMismatch is returned when the enclave measured itself to
	// another identity than the host verified.
	ErrIdentityMismatch = errors.New("host: enclave measured itself to another identity")
	// ErrStart matches a failure of the enclave to start.
	ErrStart = errors.New("host: enclave failed to start")

	ErrInvalidParameter = boundary.ErrInvalidParameter
	ErrUnknownFunction  = boundary.ErrUnknownFunction
	ErrOutOfThreads     = boundary.ErrOutOfThreads
	ErrReentrant        = boundary.ErrReentrant
	ErrPanic            = boundary.ErrPanic
	ErrFailed           = boundary.ErrFailed
	ErrShuttingDown     = boundary.ErrShuttingDown
	ErrClosed           = boundary.ErrClosed
)

// LostError reports that the enclave process is gone.
type LostError struct {
	// ExitCode is the process exit status, or -1 if a signal ended it.
	ExitCode int
	// Signal is the signal that ended the process, if any.
	Signal syscall.Signal
	// Cause is the connection error that revealed the loss, if any.
	Cause error
}

func (e *LostError) Error() string {
	s := "host: enclave lost"
	if e.Signal != 0 {
		s += fmt.Sprintf(": killed by signal %v", e.Signal)
	} else if e.ExitCode >= 0 {
		s += fmt.Sprintf(": exit status %d", e.ExitCode)
	}
	if e.Cause != nil && !errors.Is(e.Cause, io.EOF) {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns ErrEnclaveLost.
func (e *LostError) Unwrap() error { return ErrEnclaveLost }

// StartError reports an enclave that refused to start.
type StartError struct {
	// Code classifies the refusal ("version", "measurement", "platform",
	// "harden"), as the enclave reported it.
	Code string
	// Reason is the enclave's message.
	Reason string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("host: enclave refused to start (%s): %s", e.Code, e.Reason)
}

// Unwrap returns ErrStart.
func (e *StartError) Unwrap() error { return ErrStart }

// Enclave is a loaded enclave.
type Enclave struct {
	img  *image.Image
	cmd  *exec.Cmd
	a, b *boundary.Conn
	tcs  chan struct{}
	// lanes are extra call sockets, one ecall at a time each, so that
	// concurrent callers each read their own responses; free holds those
	// not in use, most recently used last. a is used when none is free.
	lanes  []*boundary.Conn
	freeMu sync.Mutex
	free   []*boundary.Conn
	opts   Options
	stdout struct {
		sync.Mutex
		w io.Writer
	}
	platform  string
	simulated bool

	net *relay

	sw     *boundary.Switchless
	swMem  []byte
	swStop context.CancelFunc
	swAll  bool

	exited   chan struct{} // closed when the process has exited
	exitErr  *LostError
	closeMu  sync.Mutex
	closed   bool
	closeErr error
}

// Load verifies the signed image at path, starts it as an enclave process
// and completes the handshake.
func Load(ctx context.Context, path string, opts Options) (*Enclave, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	img, unsigned, err := verify(data, opts)
	if err != nil {
		return nil, err
	}
	e := &Enclave{img: img, opts: opts, exited: make(chan struct{}), net: newRelay(opts.Dial)}
	e.stdout.w = opts.Stdout
	if e.stdout.w == nil {
		e.stdout.w = os.Stdout
	}
	if err := e.start(ctx, data, unsigned); err != nil {
		return nil, err
	}
	return e, nil
}

func verify(data []byte, opts Options) (img *image.Image, unsigned bool, err error) {
	img, err = image.Open(data)
	if errors.Is(err, image.ErrUnsigned) && opts.Debug {
		cfg := image.DefaultConfig()
		if opts.Config != nil {
			cfg = *opts.Config
		}
		cfg.Debug = true
		img, err = image.OpenUnsigned(data, cfg)
		unsigned = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("host: load refused: %w", err)
	}
	if img.Config.Debug && !opts.Debug {
		return nil, false, ErrDebugImage
	}
	return img, unsigned, nil
}

func (e *Enclave) start(ctx context.Context, data []byte, unsigned bool) (err error) {
	// The enclave runs from a sealed memory file holding exactly the bytes
	// verified above: the file on disk may change, this copy cannot.
	mfd, err := sealedMemfd(data)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)

	var parent, child [2]*os.File
	for i := range 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("host: socketpair: %w", err)
		}
		parent[i] = os.NewFile(uintptr(fds[0]), "boundary")
		child[i] = os.NewFile(uintptr(fds[1]), "boundary")
	}
	defer func() {
		for i := range 2 {
			child[i].Close()
			if err != nil {
				parent[i].Close()
			}
		}
	}()

	extra := []*os.File{child[0], child[1]}
	var swHello *boundary.SwitchlessHello
	if so := e.opts.Switchless; so != nil {
		f, hello, err := e.switchlessRegion(so)
		if err != nil {
			return err
		}
		defer f.Close()
		extra, swHello = append(extra, f), hello
	}
	// Lanes: one more call socket per thread beyond the first, up to
	// boundary.MaxLanes.
	nLanes := min(max(int(e.img.Config.NumTCS), 1)-1, boundary.MaxLanes)
	laneParent := make([]*os.File, 0, nLanes)
	laneChild := make([]*os.File, 0, nLanes)
	defer func() {
		for i := range laneChild {
			laneChild[i].Close()
			if err != nil {
				laneParent[i].Close()
			}
		}
	}()
	for range nLanes {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("host: socketpair: %w", err)
		}
		laneParent = append(laneParent, os.NewFile(uintptr(fds[0]), "lane"))
		laneChild = append(laneChild, os.NewFile(uintptr(fds[1]), "lane"))
	}
	extra = append(extra, laneChild...)

	cmd := &exec.Cmd{
		Path:       fmt.Sprintf("/proc/self/fd/%d", mfd),
		Args:       []string{"confide-enclave"},
		Env:        []string{},
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
			Setpgid:   true,
		},
	}
	if e.img.Config.Debug {
		cmd.Stderr = e.opts.Stderr
		if cmd.Stderr == nil {
			cmd.Stderr = os.Stderr
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host: start enclave: %w", err)
	}
	e.cmd = cmd
	go e.wait()
	for i := range 2 {
		child[i].Close()
	}
	for _, f := range laneChild {
		f.Close()
	}

	fdA, fdB := rawFD(parent[0]), rawFD(parent[1])
	simDir := e.opts.SimDir
	if simDir == "" {
		simDir = defaultSimDir()
	}
	hello := boundary.HostHello{Version: boundary.Version, Unsigned: unsigned, Platform: e.opts.Platform, SimDir: simDir, Switchless: swHello, Lanes: nLanes}
	if unsigned {
		hello.Config, _ = json.Marshal(e.img.Config)
	}
	timeout := e.opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	var reply boundary.EnclaveHello
	err = boundary.WriteHello(fdA, hello)
	if err == nil {
		err = boundary.ReadHello(fdA, &reply, timeout)
	}
	switch {
	case err != nil:
		e.kill()
		if lost := e.lostError(err); lost != nil && reply.Error == "" {
			return fmt.Errorf("%w: %w", ErrStart, lost)
		}
		return fmt.Errorf("%w: handshake: %w", ErrStart, err)
	case reply.Error != "":
		e.kill()
		return &StartError{Code: reply.Code, Reason: reply.Error}
	case reply.Version != boundary.Version:
		e.kill()
		return &StartError{Code: "version", Reason: fmt.Sprintf("enclave speaks protocol version %d, host %d", reply.Version, boundary.Version)}
	case reply.UniqueID != hex.EncodeToString(e.img.Identity.UniqueID[:]) ||
		reply.SignerID != hex.EncodeToString(e.img.Identity.SignerID[:]):
		e.kill()
		return ErrIdentityMismatch
	}
	e.platform, e.simulated = reply.Platform, reply.Simulated

	// The Conns own the descriptors from here on.
	fdA, fdB = detach(parent[0]), detach(parent[1])
	e.a = boundary.NewConn(fdA, boundary.Options{Handler: e.serveOcall})
	e.b = boundary.NewConn(fdB, boundary.Options{Handler: e.serveOcall})
	e.tcs = make(chan struct{}, max(e.img.Config.NumTCS, 1))
	for _, f := range laneParent {
		e.lanes = append(e.lanes, boundary.NewConn(detach(f), boundary.Options{Handler: e.serveOcall}))
	}
	e.free = append(e.free, e.lanes...)
	// Background ocalls are served here; relayed reads block, so allow
	// some in parallel when the enclave may use the network.
	workers := 1
	if e.opts.Dial != nil {
		workers = 16
	}
	go e.b.Serve(workers)
	if e.sw != nil {
		ctx, stop := context.WithCancel(context.Background())
		e.swStop = stop
		for range max(e.opts.Switchless.HostWorkers, 1) {
			go e.sw.Serve(ctx, boundary.OcallRing, e.serveOcall)
		}
	}
	go func() {
		<-e.exited
		e.a.Fail(e.exitErr)
		e.b.Fail(e.exitErr)
		for _, l := range e.lanes {
			l.Fail(e.exitErr)
		}
		if e.sw != nil {
			e.sw.MarkDead()
		}
	}()
	return nil
}

// switchlessRegion creates the shared-memory region for switchless calls:
// a memfd sealed against shrinking (so the enclave can map it without
// fearing SIGBUS), mapped here and passed to the enclave as descriptor 5.
func (e *Enclave) switchlessRegion(so *SwitchlessOptions) (*os.File, *boundary.SwitchlessHello, error) {
	slots := so.Slots
	if slots == 0 {
		slots = 8
	}
	capacity := so.SlotSize
	if capacity == 0 {
		capacity = 1<<20 + 64<<10
	}
	capacity = (capacity + 4095) &^ 4095
	size := boundary.SwitchlessSize(slots, capacity)
	fd, err := unix.MemfdCreate("confide-switchless", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("host: switchless memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "switchless")
	fail := func(err error) (*os.File, *boundary.SwitchlessHello, error) {
		f.Close()
		return nil, nil, fmt.Errorf("host: switchless region: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return fail(err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	sw, err := boundary.InitSwitchless(mem, slots, capacity)
	if err != nil {
		unix.Munmap(mem)
		return fail(err)
	}
	e.sw, e.swMem, e.swAll = sw, mem, so.AllCalls
	return f, &boundary.SwitchlessHello{Slots: slots, Capacity: capacity, Workers: max(so.EnclaveWorkers, 1)}, nil
}

// defaultSimDir is where the simulated platform keeps its state when
// Options.SimDir is empty: the user's state directory, as the CLI uses.
func defaultSimDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "confide-sim")
	}
	return filepath.Join(home, ".local", "state", "confide", "sim")
}

// rawFD returns f's descriptor without changing its blocking mode.
func rawFD(f *os.File) int {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	sc.Control(func(u uintptr) { fd = int(u) })
	return fd
}

// detach duplicates f's descriptor for exclusive raw use and closes f.
func detach(f *os.File) int {
	fd, err := unix.FcntlInt(uintptr(rawFD(f)), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return -1
	}
	// os.NewFile may have left the descriptor non-blocking; the Conn's
	// reader blocks in read(2).
	_ = unix.SetNonblock(fd, false)
	return fd
}

func sealedMemfd(data []byte) (int, error) {
	fd, err := unix.MemfdCreate("confide-enclave", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("host: memfd_create: %w", err)
	}
	// Keep the descriptor clear of the numbers exec.Cmd uses for
	// ExtraFiles (3 to at most 5+MaxLanes), so that it survives until
	// execve opens it.
	const lowest = 64
	if fd < lowest {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, lowest)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("host: memfd: %w", err)
		}
		fd = nfd
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("host: write memfd: %w", err)
		}
		b = b[n:]
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("host: seal memfd: %w", err)
	}
	return fd, nil
}

// wait reaps the process and records its exit status.
func (e *Enclave) wait() {
	err := e.cmd.Wait()
	lost := &LostError{ExitCode: -1}
	if st := e.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			lost.Signal = ws.Signal()
		} else {
			lost.ExitCode = st.ExitCode()
		}
	} else if err != nil {
		lost.Cause = err
	}
	e.exitErr = lost
	close(e.exited)
	e.net.close()
}

// lostError returns the *LostError for a connection failure, waiting a
// moment for the process to exit, or nil if the process is still alive.
func (e *Enclave) lostError(cause error) *LostError {
	select {
	case <-e.exited:
	case <-time.After(2 * time.Second):
		return nil
	}
	l := *e.exitErr
	if l.Cause == nil {
		l.Cause = cause
	}
	return &l
}

func (e *Enclave) kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// Identity returns the identity of the loaded enclave.
func (e *Enclave) Identity() image.Identity { return e.img.Identity }

// Config returns the signed config of the loaded enclave.
func (e *Enclave) Config() image.Config { return e.img.Config }

// Platform returns the name of the platform the enclave runs on and
// whether its evidence is simulated.
func (e *Enclave) Platform() (name string, simulated bool) { return e.platform, e.simulated }

// PID returns the enclave's process ID.
func (e *Enclave) PID() int { return e.cmd.Process.Pid }

// Call makes ecall fn with payload in and returns the enclave's result.
// It waits for a free thread (NumTCS) until ctx ends. While the ecall runs,
// ocalls nested in it are served on this goroutine.
func (e *Enclave) Call(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if c, _, ok := boundary.Incoming(ctx); ok && e.ownConn(c) {
		return nil, ErrReentrant
	}
	if fn >= boundary.FirstReserved {
		return nil, fmt.Errorf("%w: function ID %#x is reserved", ErrUnknownFunction, fn)
	}
	if e.swAll {
		if out, err := e.callSwitchless(ctx, fn, in); !errors.Is(err, boundary.ErrNoWorker) {
			return out, err
		}
	}
	select {
	case e.tcs <- struct{}{}:
	default:
		select {
		case e.tcs <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waited for a thread: %w", ErrOutOfThreads, ctx.Err())
		case <-e.exited:
			return nil, e.lostError(nil)
		}
	}
	c := e.takeLane()
	out, err := c.Call(ctx, 0, fn, in)
	e.putLane(c)
	<-e.tcs
	if err != nil {
		var re *boundary.RemoteError
		if !errors.As(err, &re) {
			if lost := e.lostError(err); lost != nil {
				return nil, lost
			}
		}
		return nil, err
	}
	return out, nil
}

// takeLane returns the free lane used last, or the call socket when no
// lane is free. Reusing the same lane keeps a lone caller on threads (here
// and in the enclave) that were just running, instead of waking one that
// has slept through the other lanes' turns.
func (e *Enclave) takeLane() *boundary.Conn {
	e.freeMu.Lock()
	defer e.freeMu.Unlock()
	n := len(e.free)
	if n == 0 {
		return e.a
	}
	c := e.free[n-1]
	e.free = e.free[:n-1]
	return c
}

func (e *Enclave) putLane(c *boundary.Conn) {
	if c == e.a {
		return
	}
	e.freeMu.Lock()
	e.free = append(e.free, c)
	e.freeMu.Unlock()
}

// ownConn reports whether c is one of this enclave's sockets.
func (e *Enclave) ownConn(c *boundary.Conn) bool {
	if c == e.a || c == e.b {
		return true
	}
	for _, l := range e.lanes {
		if c == l {
			return true
		}
	}
	return false
}

// CallSwitchless is Call for functions marked transition_using_threads.
// It takes the switchless path when enabled and falls back to Call.
func (e *Enclave) CallSwitchless(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if c, _, ok := boundary.Incoming(ctx); ok && e.ownConn(c) {
		return nil, ErrReentrant
	}
	if fn >= boundary.FirstReserved {
		return nil, fmt.Errorf("%w: function ID %#x is reserved", ErrUnknownFunction, fn)
	}
	if out, err := e.callSwitchless(ctx, fn, in); !errors.Is(err, boundary.ErrNoWorker) {
		return out, err
	}
	return e.Call(ctx, fn, in)
}

// callSwitchless tries the switchless path; boundary.ErrNoWorker means
// "use the regular path".
func (e *Enclave) callSwitchless(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if e.sw == nil {
		return nil, boundary.ErrNoWorker
	}
	out, err := e.sw.Call(ctx, boundary.EcallRing, fn, in)
	if errors.Is(err, boundary.ErrClosed) {
		if lost := e.lostError(err); lost != nil {
			return nil, lost
		}
	}
	return out, err
}

func (e *Enclave) serveOcall(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if fn >= boundary.FirstReserved {
		if fn == boundary.FnPrint {
			e.stdout.Lock()
			defer e.stdout.Unlock()
			_, err := e.stdout.w.Write(in)
			return nil, err
		}
		if out, ok, err := e.net.serve(ctx, fn, in); ok {
			return out, err
		}
		return nil, ErrUnknownFunction
	}
	f := e.opts.Ocalls[fn]
	if f == nil {
		return nil, ErrUnknownFunction
	}
	return f(ctx, in)
}

// Close asks the enclave to stop, waits up to Options.CloseTimeout for it
// to exit, then kills it. It returns a *LostError if the enclave had died
// or had to be killed.
func (e *Enclave) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return e.closeErr
	}
	e.closed = true
	timeout := e.opts.CloseTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	select {
	case <-e.exited:
		e.closeErr = e.exitErr
	default:
		_ = e.a.Shutdown()
		select {
		case <-e.exited:
			if e.exitErr.ExitCode != 0 {
				e.closeErr = e.exitErr
			}
		case <-time.After(timeout):
			e.kill()
			e.closeErr = fmt.Errorf("host: enclave did not stop within %v and was killed: %w", timeout, ErrEnclaveLost)
		}
	}
	e.a.Close()
	e.b.Close()
	for _, l := range e.lanes {
		l.Close()
	}
	if e.sw != nil {
		e.sw.MarkDead()
		e.swStop()
	}
	return e.closeErr
}
