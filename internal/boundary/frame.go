package boundary

import (
	"encoding/binary"
	"fmt"
)

// Version is the boundary protocol version spoken by this package. The
// host states it in its Hello; an enclave that speaks another version
// refuses the handshake.
const Version = 1

// HeaderSize is the size of a frame header (spec/boundary.md, "Frames").
const HeaderSize = 40

// Header field offsets (spec/boundary.md, "Frames").
const (
	offLength   = 0  // u32 payload length
	offKind     = 4  // u8 frame kind
	offFlags    = 5  // u8 flags, reserved: zero
	offStatus   = 6  // u16 status (responses)
	offFn       = 8  // u32 function ID (requests)
	offReserved = 12 // u32 reserved: zero
	offID       = 16 // u64 call ID
	offParent   = 24 // u64 parent call ID (requests), in the receiver's ID space
	offDeadline = 32 // i64 deadline, Unix nanoseconds, 0 = none (requests)
)

// DefaultMaxPayload is the largest payload a Conn accepts unless told
// otherwise: large enough for bulk ecalls, small enough that a hostile peer
// cannot make the receiver allocate without bound.
const DefaultMaxPayload = 64 << 20

// Kind is the kind of a frame.
type Kind uint8

// Frame kinds.
const (
	KindHello    Kind = 1 // handshake; payload is JSON (see spec)
	KindRequest  Kind = 2 // a call: ecall from the host, ocall from the enclave
	KindResponse Kind = 3 // the answer to the request with the same ID
	KindCancel   Kind = 4 // the caller's context ended; ID names the request
	KindShutdown Kind = 5 // host asks the enclave to stop serving
)

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	case KindCancel:
		return "cancel"
	case KindShutdown:
		return "shutdown"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is a decoded frame header.
type Header struct {
	Length   uint32
	Kind     Kind
	Status   Status
	Fn       uint32
	ID       uint64
	Parent   uint64
	Deadline int64
}

// Frame is a header with its payload.
type Frame struct {
	Header
	Payload []byte
}

// PutHeader encodes h into b, which must be at least HeaderSize long.
func PutHeader(b []byte, h *Header) {
	_ = b[HeaderSize-1]
	binary.LittleEndian.PutUint32(b[offLength:], h.Length)
	b[offKind] = byte(h.Kind)
	b[offFlags] = 0
	binary.LittleEndian.PutUint16(b[offStatus:], uint16(h.Status))
	binary.LittleEndian.PutUint32(b[offFn:], h.Fn)
	binary.LittleEndian.PutUint32(b[offReserved:], 0)
	binary.LittleEndian.PutUint64(b[offID:], h.ID)
	binary.LittleEndian.PutUint64(b[offParent:], h.Parent)
	binary.LittleEndian.PutUint64(b[offDeadline:], uint64(h.Deadline))
}

// ParseHeader decodes and checks a frame header. It rejects short input,
// unknown kinds, non-zero reserved fields and payloads above maxPayload,
// without allocating.
func ParseHeader(b []byte, maxPayload uint32) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, &FrameError{Reason: fmt.Sprintf("header is %d bytes, want %d", len(b), HeaderSize)}
	}
	h.Length = binary.LittleEndian.Uint32(b[offLength:])
	h.Kind = Kind(b[offKind])
	h.Status = Status(binary.LittleEndian.Uint16(b[offStatus:]))
	h.Fn = binary.LittleEndian.Uint32(b[offFn:])
	h.ID = binary.LittleEndian.Uint64(b[offID:])
	h.Parent = binary.LittleEndian.Uint64(b[offParent:])
	h.Deadline = int64(binary.LittleEndian.Uint64(b[offDeadline:]))
	switch {
	case h.Kind < KindHello || h.Kind > KindShutdown:
		return h, &FrameError{Reason: fmt.Sprintf("unknown frame kind %d", h.Kind)}
	case b[offFlags] != 0 || binary.LittleEndian.Uint32(b[offReserved:]) != 0:
		return h, &FrameError{Reason: "reserved header field is not zero"}
	case h.Length > maxPayload:
		return h, &FrameError{Reason: fmt.Sprintf("payload length %d exceeds limit %d", h.Length, maxPayload)}
	case h.Kind == KindRequest && h.ID == 0:
		return h, &FrameError{Reason: "request with call ID 0"}
	case h.Kind != KindResponse && h.Status != StatusOK:
		return h, &FrameError{Reason: fmt.Sprintf("%s frame carries status %d", h.Kind, h.Status)}
	case h.Deadline < 0:
		return h, &FrameError{Reason: "negative deadline"}
	}
	return h, nil
}

// ParseFrame decodes exactly one frame from b: a header and its payload,
// with no trailing bytes. The payload is copied out of b.
func ParseFrame(b []byte, maxPayload uint32) (Frame, error) {
	h, err := ParseHeader(b, maxPayload)
	if err != nil {
		return Frame{}, err
	}
	rest := b[HeaderSize:]
	switch {
	case uint64(len(rest)) < uint64(h.Length):
		return Frame{}, &FrameError{Reason: fmt.Sprintf("truncated payload: %d of %d bytes", len(rest), h.Length)}
	case uint64(len(rest)) > uint64(h.Length):
		return Frame{}, &FrameError{Reason: fmt.Sprintf("%d trailing bytes after frame", uint64(len(rest))-uint64(h.Length))}
	}
	return Frame{Header: h, Payload: append([]byte(nil), rest...)}, nil
}

// AppendFrame appends the encoding of h and payload to b. h.Length is set
// from the payload.
func AppendFrame(b []byte, h Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	var hdr [HeaderSize]byte
	PutHeader(hdr[:], &h)
	b = append(b, hdr[:]...)
	return append(b, payload...)
}

// Reserved function IDs. IDs at or above FirstReserved belong to the
// runtime; EDL-generated and user functions use the IDs below it.
const (
	FirstReserved uint32 = 0x8000_0000
	// FnPrint is the ocall that writes enclave output to the host's stdout.
	FnPrint uint32 = 0x8000_0001
	// FnNetDial, FnNetRead, FnNetWrite and FnNetClose relay a stream
	// connection that the host opens for the enclave (spec/boundary.md,
	// "Network relay"). The enclave runs TLS over it itself.
	FnNetDial  uint32 = 0x8000_0002
	FnNetRead  uint32 = 0x8000_0003
	FnNetWrite uint32 = 0x8000_0004
	FnNetClose uint32 = 0x8000_0005
)

// Network relay limits.
const (
	// NetMaxRead is the most bytes one FnNetRead returns.
	NetMaxRead = 256 << 10
	// NetMaxAddress is the longest network or address string FnNetDial accepts.
	NetMaxAddress = 1024
)
