package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/room/roomcall"
	"github.com/confide-dev/confide/host"
)

// Options configure Run, the host side of a clean-room run.
type Options struct {
	// Store holds the published datasets the enclave reads. Required.
	Store dataset.Store
	// Platform forces the enclave's platform ("sim"). Zero: detected.
	Platform string
	// SimDir is the simulated platform's state directory. Zero: the
	// simulator's default.
	SimDir string
	// Debug allows a debug-signed enclave image to load (the attestation
	// service and the key broker still refuse it). Zero: release only.
	Debug bool
	// Dial opens the connections the enclave asks for (to the attestation
	// service); it decides what is allowed. Nil: net.Dialer.DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Progress is told each stage the enclave reaches. Nil: ignored.
	Progress func(stage string)
	// Observe, when set, sees every byte the host handles during the run:
	// each ocall's input and output as they cross the boundary ("ocall-in",
	// "ocall-out"), the relayed network traffic ("net-read", "net-write"),
	// and the ecall's own request and reason ("ecall-in", "ecall-out").
	// Tests use it to show the host sees only ciphertext. It is called
	// from several goroutines and must be safe for concurrent use.
	Observe func(channel string, data []byte)
	// StartTimeout bounds the enclave's start. Zero: host's default.
	StartTimeout time.Duration
}

// MaxOutput bounds one output the enclave hands the host.
const MaxOutput = 64 << 20

// Run loads the clean-room enclave image at path, hands it req and serves
// its ocalls: stored ciphertext, relayed TLS to the service, and the
// outputs it returns. It returns each party's output (ParseOutput, then
// VerifyOutput and Open on the party's side). A refusal by the enclave is a
// *RunError whose class (errors.Is) is the refusing check's sentinel:
// contract.ErrUnsigned, ErrAttestation, ErrKeyRelease, dataset.ErrAuth,
// policy.ErrOutputPolicy, and so on.
func Run(ctx context.Context, path string, req *Request, opts Options) (map[string][]byte, error) {
	if opts.Store == nil {
		return nil, errors.New("room: Options.Store is required")
	}
	obs := opts.Observe
	if obs == nil {
		obs = func(string, []byte) {}
	}
	u := &untrusted{store: opts.Store, progress: opts.Progress, outputs: map[string][]byte{}, open: map[string]*openObject{}}
	defer u.closeAll()
	ocalls := roomcall.Ocalls(u)
	for id, f := range ocalls {
		ocalls[id] = func(ctx context.Context, in []byte) ([]byte, error) {
			obs("ocall-in", in)
			out, err := f(ctx, in)
			obs("ocall-out", out)
			return out, err
		}
	}
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	e, err := host.Load(ctx, path, host.Options{
		Debug:        opts.Debug,
		Platform:     opts.Platform,
		SimDir:       opts.SimDir,
		Ocalls:       ocalls,
		Stdout:       io.Discard,
		Stderr:       io.Discard,
		StartTimeout: opts.StartTimeout,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &observedConn{Conn: c, obs: obs}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	obs("ecall-in", in)
	reason := make([]byte, maxReason)
	status, err := roomcall.NewClient(e).RoomRun(ctx, in, uint64(len(in)), reason)
	obs("ecall-out", reason)
	if err != nil {
		return nil, fmt.Errorf("room: %w", err)
	}
	if status != statusOK {
		msg, _, _ := bytes.Cut(reason, []byte{0})
		return nil, &RunError{Status: status, Reason: string(msg)}
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("room: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.outputs, nil
}

// untrusted implements roomcall.Untrusted.
type untrusted struct {
	store    dataset.Store
	progress func(string)

	mu      sync.Mutex
	outputs map[string][]byte
	open    map[string]*openObject
}

// openObject is a stored object being read sequentially.
type openObject struct {
	rc  io.ReadCloser
	off uint64
}

// HostReadObject is host_read_object(): it serves sequential reads from
// one open reader per object and reopens the object for any other offset.
func (u *untrusted) HostReadObject(ctx context.Context, name string, offset uint64, buf []byte, _ uint64) (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	o := u.open[name]
	if o == nil || o.off != offset {
		if o != nil {
			o.rc.Close()
			delete(u.open, name)
		}
		rc, err := u.store.Get(ctx, name)
		if err != nil {
			return 0, err
		}
		o = &openObject{rc: rc}
		u.open[name] = o
		if _, err := io.CopyN(io.Discard, rc, int64(offset)); err != nil && err != io.EOF {
			return 0, err
		}
		o.off = offset
	}
	n, err := io.ReadFull(o.rc, buf)
	o.off += uint64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return uint64(n), err
}

// HostPutOutput is host_put_output().
func (u *untrusted) HostPutOutput(ctx context.Context, name string, data []byte, _ uint64) error {
	if len(data) > MaxOutput {
		return fmt.Errorf("room: output of %d bytes is over the limit", len(data))
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, dup := u.outputs[name]; dup {
		return fmt.Errorf("room: second output for %q", name)
	}
	u.outputs[name] = bytes.Clone(data)
	return nil
}

// HostProgress is host_progress().
func (u *untrusted) HostProgress(ctx context.Context, stage string) error {
	if u.progress != nil {
		u.progress(stage)
	}
	return nil
}

func (u *untrusted) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.open {
		o.rc.Close()
	}
}

// observedConn shows the relayed bytes to an observer.
type observedConn struct {
	net.Conn
	obs func(string, []byte)
}

func (c *observedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.obs("net-read", p[:n])
	return n, err
}

func (c *observedConn) Write(p []byte) (int, error) {
	c.obs("net-write", p)
	return c.Conn.Write(p)
}
