package boundary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Switchless calls go through a shared-memory region mapped by both
// processes instead of the socket: the caller writes the request into a
// slot, a worker of the other side that is polling the slots serves it and
// writes the response back into the slot. No system call is made while
// both sides are busy; idle workers park on a futex. See spec/boundary.md,
// "Switchless calls".
//
// The region is part of the untrusted boundary. The serving side reads
// each slot field once, into private memory, checks it, and copies the
// payload out before using it: the other side may change shared memory at
// any moment.

// Region layout (spec/boundary.md, "Switchless region").
const (
	swMagic   = 0x4c575343 // "CSWL"
	swVersion = 1

	swOffMagic    = 0  // u32
	swOffVersion  = 4  // u32
	swOffSlots    = 8  // u32 slots per ring
	swOffReserved = 12 // u32, 0
	swOffCapacity = 16 // u64 payload capacity of a slot
	swRing0       = 64 // ring 0 control (ecalls: host calls, enclave serves)
	swRing1       = 128
	swHeaderSize  = 4096

	// Ring control block.
	ringOffSeq      = 0 // u32 eventcount: bumped when a request is posted
	ringOffSleepers = 4 // u32 workers parked on seq
	ringOffIdle     = 8 // u32 workers polling for work

	// Slot header.
	slotOffState  = 0  // u32 state
	slotOffFn     = 4  // u32 function
	slotOffLength = 8  // u32 payload length (request, then response)
	slotOffStatus = 12 // u32 response status
	slotOffWaiter = 16 // u32 1 when the caller sleeps on state
	slotHeader    = 64

	// MaxSwitchlessSlots and MaxSwitchlessCapacity bound what a region
	// may declare.
	MaxSwitchlessSlots    = 64
	MaxSwitchlessCapacity = 64 << 20
)

// Slot states.
const (
	slotFree     = 0
	slotFilling  = 1 // the caller owns the slot and writes the request
	slotRequest  = 2 // posted, waiting for a worker
	slotServing  = 3 // a worker owns the slot
	slotResponse = 4 // the response is in the slot
)

// Ring selects one direction of a switchless region.
type Ring int

// The two rings of a region.
const (
	EcallRing Ring = 0 // the host calls, the enclave serves
	OcallRing Ring = 1 // the enclave calls, the host serves
)

// ErrNoWorker is returned by Switchless.Call when no worker or slot is
// free: the caller falls back to the regular transport.
var ErrNoWorker = errors.New("boundary: no switchless worker free")

// SwitchlessSize returns the size of a region with slots slots per ring
// and capacity payload bytes per slot.
func SwitchlessSize(slots int, capacity int) int {
	return swDataOffset(slots) + 2*slots*capacity
}

func swDataOffset(slots int) int {
	hdr := swHeaderSize + 2*slots*slotHeader
	return (hdr + 4095) &^ 4095
}

// Switchless is a mapped switchless region.
type Switchless struct {
	mem      []byte
	slots    int
	capacity int
	dead     atomic.Bool
}

// MarkDead tells callers waiting for a response that the other side is
// gone: they return ErrClosed.
func (s *Switchless) MarkDead() { s.dead.Store(true) }

// InitSwitchless lays out a fresh region in mem (which must be zeroed and
// at least SwitchlessSize bytes) and returns it.
func InitSwitchless(mem []byte, slots, capacity int) (*Switchless, error) {
	if slots < 1 || slots > MaxSwitchlessSlots || capacity < 1 || capacity > MaxSwitchlessCapacity || capacity%4096 != 0 {
		return nil, fmt.Errorf("boundary: switchless region with %d slots of %d bytes is out of range", slots, capacity)
	}
	if len(mem) < SwitchlessSize(slots, capacity) {
		return nil, fmt.Errorf("boundary: switchless region of %d bytes is too small", len(mem))
	}
	le := binary.LittleEndian
	le.PutUint32(mem[swOffMagic:], swMagic)
	le.PutUint32(mem[swOffVersion:], swVersion)
	le.PutUint32(mem[swOffSlots:], uint32(slots))
	le.PutUint64(mem[swOffCapacity:], uint64(capacity))
	return &Switchless{mem: mem, slots: slots, capacity: capacity}, nil
}

// OpenSwitchless checks the header of a region mapped from the other side
// and returns it. wantSlots and wantCapacity are what the handshake
// announced; the header, which the other side can change, must agree, and
// the mapping must be large enough. The values are read once.
func OpenSwitchless(mem []byte, wantSlots, wantCapacity int) (*Switchless, error) {
	if wantSlots < 1 || wantSlots > MaxSwitchlessSlots || wantCapacity < 1 || wantCapacity > MaxSwitchlessCapacity || wantCapacity%4096 != 0 {
		return nil, fmt.Errorf("boundary: switchless region with %d slots of %d bytes is out of range", wantSlots, wantCapacity)
	}
	if len(mem) < SwitchlessSize(wantSlots, wantCapacity) {
		return nil, fmt.Errorf("boundary: switchless mapping of %d bytes is smaller than announced", len(mem))
	}
	le := binary.LittleEndian
	if le.Uint32(mem[swOffMagic:]) != swMagic || le.Uint32(mem[swOffVersion:]) != swVersion ||
		le.Uint32(mem[swOffSlots:]) != uint32(wantSlots) || le.Uint64(mem[swOffCapacity:]) != uint64(wantCapacity) ||
		le.Uint32(mem[swOffReserved:]) != 0 {
		return nil, errors.New("boundary: switchless region header does not match the handshake")
	}
	return &Switchless{mem: mem, slots: wantSlots, capacity: wantCapacity}, nil
}

// Capacity returns the payload capacity of a slot.
func (s *Switchless) Capacity() int { return s.capacity }

func (s *Switchless) word(off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&s.mem[off]))
}

func (s *Switchless) ring(r Ring) int { return swRing0 + int(r)*(swRing1-swRing0) }

func (s *Switchless) slot(r Ring, i int) int {
	return swHeaderSize + (int(r)*s.slots+i)*slotHeader
}

func (s *Switchless) data(r Ring, i int) []byte {
	off := swDataOffset(s.slots) + (int(r)*s.slots+i)*s.capacity
	return s.mem[off : off+s.capacity : off+s.capacity]
}

// spinFor is how long a waiting side polls before it sleeps.
const spinFor = 50 * time.Microsecond

// Call makes a switchless call on ring r. It returns ErrNoWorker, without
// doing anything, when no worker is polling, no slot is free or the
// payload does not fit: the caller then uses the regular transport.
func (s *Switchless) Call(ctx context.Context, r Ring, fn uint32, in []byte) ([]byte, error) {
	ring := s.ring(r)
	if len(in) > s.capacity || s.word(ring+ringOffIdle).Load() == 0 {
		return nil, ErrNoWorker
	}
	i := -1
	for j := range s.slots {
		if s.word(s.slot(r, j)+slotOffState).CompareAndSwap(slotFree, slotFilling) {
			i = j
			break
		}
	}
	if i < 0 {
		return nil, ErrNoWorker
	}
	sl := s.slot(r, i)
	state := s.word(sl + slotOffState)
	copy(s.data(r, i), in)
	s.word(sl + slotOffFn).Store(fn)
	s.word(sl + slotOffLength).Store(uint32(len(in)))
	s.word(sl + slotOffStatus).Store(0)
	state.Store(slotRequest)
	// Wake a parked worker (eventcount: bump, then wake if anyone sleeps).
	s.word(ring + ringOffSeq).Add(1)
	if s.word(ring+ringOffSleepers).Load() > 0 {
		futexWake(s.word(ring+ringOffSeq), 1)
	}

	waiter := s.word(sl + slotOffWaiter)
	start := time.Now()
	for n := 0; state.Load() != slotResponse; n++ {
		if s.dead.Load() {
			return nil, ErrClosed
		}
		if n < 1<<20 && (n&255 != 0 || time.Since(start) < spinFor) {
			if n&63 == 63 {
				runtime.Gosched()
			}
			continue
		}
		waiter.Store(1)
		if v := state.Load(); v != slotResponse {
			futexWait(state, v, time.Millisecond)
		}
	}
	waiter.Store(0)
	status := Status(s.word(sl + slotOffStatus).Load())
	n := int(s.word(sl + slotOffLength).Load())
	if n > s.capacity {
		state.Store(slotFree)
		return nil, &FrameError{Reason: fmt.Sprintf("switchless response of %d bytes exceeds the slot", n)}
	}
	var out []byte
	if n > 0 {
		out = append([]byte(nil), s.data(r, i)[:n]...)
	}
	state.Store(slotFree)
	if status == StatusOK {
		return out, nil
	}
	if status >= statusMax {
		status = StatusFailed
	}
	return nil, &RemoteError{Status: status, Fn: fn, Message: string(out)}
}

// Serve runs one worker that serves calls posted on ring r with h until
// ctx ends. Every field read from the region is read once and checked;
// the request payload is copied out before h sees it.
func (s *Switchless) Serve(ctx context.Context, r Ring, h Handler) {
	ring := s.ring(r)
	// idle counts workers that are not serving a request, parked or not:
	// a parked worker is woken by the next request.
	idle := s.word(ring + ringOffIdle)
	seq := s.word(ring + ringOffSeq)
	sleepers := s.word(ring + ringOffSleepers)
	idle.Add(1)
	defer idle.Add(^uint32(0))
	c := &Conn{opts: Options{Handler: h}}
	lastWork := time.Now()
	for n := 0; ctx.Err() == nil && !s.dead.Load(); n++ {
		if s.serveOne(ctx, r, c, idle) {
			lastWork, n = time.Now(), 0
			continue
		}
		if n&255 != 0 || time.Since(lastWork) < spinFor {
			if n&63 == 63 {
				runtime.Gosched()
			}
			continue
		}
		// Park: announce, re-check, sleep until a request is posted.
		v := seq.Load()
		sleepers.Add(1)
		if !s.pending(r) {
			futexWait(seq, v, 100*time.Millisecond)
		}
		sleepers.Add(^uint32(0))
		lastWork = time.Now()
	}
}

func (s *Switchless) pending(r Ring) bool {
	for i := range s.slots {
		if s.word(s.slot(r, i)+slotOffState).Load() == slotRequest {
			return true
		}
	}
	return false
}

// serveOne claims one posted request, if any, and serves it.
func (s *Switchless) serveOne(ctx context.Context, r Ring, c *Conn, idle *atomic.Uint32) bool {
	for i := range s.slots {
		sl := s.slot(r, i)
		state := s.word(sl + slotOffState)
		if state.Load() != slotRequest || !state.CompareAndSwap(slotRequest, slotServing) {
			continue
		}
		idle.Add(^uint32(0))
		fn := s.word(sl + slotOffFn).Load()
		n := int(s.word(sl + slotOffLength).Load())
		var out []byte
		var status Status
		var msg string
		if n > s.capacity {
			status, msg = StatusInvalidParameter, "switchless request exceeds the slot"
		} else {
			// Copy out before use (append does not zero what it copies over).
			in := append([]byte(nil), s.data(r, i)[:n]...)
			out, status, msg = c.invoke(ctx, Frame{Header: Header{Kind: KindRequest, Fn: fn}, Payload: in})
		}
		if status != StatusOK {
			out = []byte(msg)
		}
		if len(out) > s.capacity {
			status, out = StatusFailed, []byte("response exceeds the switchless slot")
		}
		copy(s.data(r, i), out)
		s.word(sl + slotOffLength).Store(uint32(len(out)))
		s.word(sl + slotOffStatus).Store(uint32(status))
		// Idle again before the caller can see the response and call again.
		idle.Add(1)
		state.Store(slotResponse)
		if s.word(sl+slotOffWaiter).Load() != 0 {
			futexWake(state, 1)
		}
		return true
	}
	return false
}

// Futex operations (linux/futex.h). The private flag is not used: the word
// is shared between processes.
const (
	futexOpWait = 0
	futexOpWake = 1
)

// futexWait sleeps while *w == v, for at most d. It works across
// processes on a shared mapping (no FUTEX_PRIVATE_FLAG).
func futexWait(w *atomic.Uint32, v uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexOpWait, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(w *atomic.Uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexOpWake, uintptr(n), 0, 0, 0)
}
