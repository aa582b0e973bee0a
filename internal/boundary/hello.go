package boundary

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// MaxHello caps the size of a hello payload.
const MaxHello = 64 << 10

// HostHello is what the host tells the enclave when it starts.
type HostHello struct {
	// Version is the protocol version the host speaks.
	Version int `json:"version"`
	// Unsigned says the image carries no signature and was loaded for
	// debugging; Config is then the config to assume (forced to debug).
	Unsigned bool `json:"unsigned,omitempty"`
	// Config is the config of an unsigned image, in canonical JSON.
	Config json.RawMessage `json:"config,omitempty"`
	// Platform names the platform to use: "sim", or "" to detect.
	Platform string `json:"platform,omitempty"`
	// SimDir is the simulated platform's state directory.
	SimDir string `json:"sim_dir,omitempty"`
	// Switchless, if set, describes the shared-memory region passed as
	// descriptor 5 for switchless calls.
	Switchless *SwitchlessHello `json:"switchless,omitempty"`
	// Lanes is the number of extra call sockets passed after the fixed
	// descriptors (spec/boundary.md, "Lanes"): each carries one ecall at a
	// time, so concurrent callers do not share a socket.
	Lanes int `json:"lanes,omitempty"`
}

// MaxLanes bounds the extra call sockets of one enclave.
const MaxLanes = 15

// SwitchlessHello describes a switchless region and how many enclave
// workers should poll it.
type SwitchlessHello struct {
	Slots    int `json:"slots"`
	Capacity int `json:"capacity"`
	Workers  int `json:"workers"`
}

// EnclaveHello is the enclave's answer: who it measured itself to be, or
// why it refuses to serve.
type EnclaveHello struct {
	Version int `json:"version"`
	// Error, if set, is why the enclave refuses to start; it then exits.
	Error string `json:"error,omitempty"`
	// Code classifies Error ("version", "measurement", "platform", "harden").
	Code string `json:"code,omitempty"`
	// UniqueID and SignerID are the enclave's own measurement results (hex).
	UniqueID string `json:"unique_id,omitempty"`
	SignerID string `json:"signer_id,omitempty"`
	// Platform is the name of the platform the enclave opened.
	Platform string `json:"platform,omitempty"`
	// Simulated says the platform's evidence chains to a simulated root.
	Simulated bool `json:"simulated,omitempty"`
}

// WriteHello sends v as a hello frame on fd.
func WriteHello(fd int, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(p) > MaxHello {
		return fmt.Errorf("boundary: hello of %d bytes exceeds %d", len(p), MaxHello)
	}
	b := AppendFrame(nil, Header{Kind: KindHello}, p)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("boundary: write hello: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// ErrTimeout is returned when a hello does not arrive in time.
var ErrTimeout = errors.New("boundary: timed out waiting for the peer")

// ReadHello reads exactly one hello frame from fd (never more bytes than
// the frame) and decodes it into v. A timeout of zero waits for ever.
func ReadHello(fd int, v any, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	hdr := make([]byte, HeaderSize)
	if err := readFull(fd, hdr, deadline); err != nil {
		return err
	}
	h, err := ParseHeader(hdr, MaxHello)
	if err != nil {
		return err
	}
	if h.Kind != KindHello {
		return &FrameError{Reason: fmt.Sprintf("expected hello, got %s frame", h.Kind)}
	}
	p := make([]byte, h.Length)
	if err := readFull(fd, p, deadline); err != nil {
		return err
	}
	if err := json.Unmarshal(p, v); err != nil {
		return &FrameError{Reason: "hello is not valid JSON: " + err.Error()}
	}
	return nil
}

func readFull(fd int, b []byte, deadline time.Time) error {
	for len(b) > 0 {
		if !deadline.IsZero() {
			ms := time.Until(deadline).Milliseconds()
			if ms <= 0 {
				return ErrTimeout
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(ms))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("boundary: poll: %w", err)
			}
			if n == 0 {
				return ErrTimeout
			}
		}
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("boundary: read: %w", err)
		}
		if n == 0 {
			return &FrameError{Reason: "connection closed during the handshake"}
		}
		b = b[n:]
	}
	return nil
}
