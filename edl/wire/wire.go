package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// MaxAlloc bounds the bytes a Reader allocates for a single out buffer whose
// contents are not present in the message (out parameters are sent as a
// length only). It is 64 MiB.
const MaxAlloc = 64 << 20

// ErrMalformed reports a buffer that violates the flat-buffer layout or a
// declared size.
var ErrMalformed = errors.New("wire: malformed buffer")

// ErrMismatch reports arguments that are inconsistent before sending, such as
// a slice whose length differs from its declared size parameter.
var ErrMismatch = errors.New("wire: argument does not match its declared size")

// Error describes a rejected buffer: where and why. It wraps ErrMalformed (or
// ErrMismatch) and the base error given to NewReader or Mismatch.
type Error struct {
	Offset int    // byte offset in the buffer where the check failed (-1 if none)
	What   string // the item being processed
	Reason string // what was wrong
	kind   error
	base   error
}

// Error describes the violation, prefixed with the package name.
func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("wire: %s at offset %d: %s", e.What, e.Offset, e.Reason)
	}
	return fmt.Sprintf("wire: %s: %s", e.What, e.Reason)
}

// Unwrap returns ErrMalformed or ErrMismatch and the base error.
func (e *Error) Unwrap() []error {
	if e.base == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.base}
}

// Mismatch returns an *Error wrapping ErrMismatch and base, for use by
// generated code when a caller's arguments are inconsistent.
func Mismatch(base error, what, reason string) error {
	return &Error{Offset: -1, What: what, Reason: reason, kind: ErrMismatch, base: base}
}

// Writer appends fields to a flat buffer. The zero value is ready to use.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer whose buffer has capacity n.
func NewWriter(n int) *Writer { return &Writer{buf: make([]byte, 0, n)} }

// Bytes returns the encoded buffer.
func (w *Writer) Bytes() []byte { return w.buf }

// U8 appends one byte.
func (w *Writer) U8(v uint8) { w.buf = append(w.buf, v) }

// U16 appends v little-endian.
func (w *Writer) U16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }

// U32 appends v little-endian.
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }

// U64 appends v little-endian.
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// F32 appends the IEEE 754 bits of v.
func (w *Writer) F32(v float32) { w.U32(math.Float32bits(v)) }

// F64 appends the IEEE 754 bits of v.
func (w *Writer) F64(v float64) { w.U64(math.Float64bits(v)) }

// Bool appends 1 for true and 0 for false.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Len appends a length or count as a uint64.
func (w *Writer) Len(n int) { w.U64(uint64(n)) }

// Blob appends len(b) as a uint64 followed by b.
func (w *Writer) Blob(b []byte) {
	w.Len(len(b))
	w.buf = append(w.buf, b...)
}

// Raw appends b with no length (for fixed-size byte arrays).
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// String appends s as a C string: the length including the terminating NUL
// as a uint64, the bytes of s, and a NUL. It returns ErrMismatch (wrapping
// base) if s contains a NUL byte, which C would truncate.
func (w *Writer) String(base error, s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return Mismatch(base, "string", "contains a NUL byte")
		}
	}
	w.Len(len(s) + 1)
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, 0)
	return nil
}

// WString appends s as a wide C string of 32-bit code units: the count of
// units including the terminating NUL as a uint64, the runes of s
// little-endian, and a zero unit. It rejects s if it contains U+0000 or
// invalid UTF-8.
func (w *Writer) WString(base error, s string) error {
	if !utf8.ValidString(s) {
		return Mismatch(base, "wstring", "not valid UTF-8")
	}
	n := 0
	for _, r := range s {
		if r == 0 {
			return Mismatch(base, "wstring", "contains U+0000")
		}
		n++
	}
	w.Len(n + 1)
	for _, r := range s {
		w.U32(uint32(r))
	}
	w.U32(0)
	return nil
}

// Reader consumes fields from a flat buffer. After the first violation every
// method returns zero values and Err reports the violation.
type Reader struct {
	buf  []byte
	off  int
	err  error
	base error
}

// NewReader returns a Reader over b whose errors wrap base as well as
// ErrMalformed.
func NewReader(b []byte, base error) *Reader { return &Reader{buf: b, base: base} }

// Err returns the first violation, or nil.
func (r *Reader) Err() error { return r.err }

// Remaining returns the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Fail records a violation at the current offset unless one is recorded.
func (r *Reader) Fail(what, reason string) {
	if r.err == nil {
		r.err = &Error{Offset: r.off, What: what, Reason: reason, kind: ErrMalformed, base: r.base}
	}
}

// Done returns the first violation, or an error if unread bytes remain.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.Fail("message", fmt.Sprintf("%d trailing bytes", len(r.buf)-r.off))
	}
	return r.err
}

func (r *Reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.Fail(what, fmt.Sprintf("need %d bytes, %d remain", n, len(r.buf)-r.off))
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	b := r.take(1, "uint8")
	if b == nil {
		return 0
	}
	return b[0]
}

// U16 reads a little-endian uint16.
func (r *Reader) U16() uint16 {
	b := r.take(2, "uint16")
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// U32 reads a little-endian uint32.
func (r *Reader) U32() uint32 {
	b := r.take(4, "uint32")
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads a little-endian uint64.
func (r *Reader) U64() uint64 {
	b := r.take(8, "uint64")
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// F32 reads a float32.
func (r *Reader) F32() float32 { return math.Float32frombits(r.U32()) }

// F64 reads a float64.
func (r *Reader) F64() float64 { return math.Float64frombits(r.U64()) }

// Bool reads one byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	v := r.U8()
	if v > 1 {
		r.off--
		r.Fail("bool", fmt.Sprintf("value %d is not 0 or 1", v))
		return false
	}
	return v == 1
}

// Count reads a uint64 element count for elements that occupy at least
// minSize bytes each, and checks that count×minSize bytes remain, so that a
// hostile count cannot cause a large allocation or overflow.
func (r *Reader) Count(minSize int) int {
	n := r.U64()
	if r.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(len(r.buf)-r.off)/uint64(minSize) {
		r.off -= 8
		r.Fail("count", fmt.Sprintf("%d elements of at least %d bytes exceed the %d bytes remaining", n, minSize, len(r.buf)-r.off-8))
		return 0
	}
	return int(n)
}

// OutLen reads the uint64 element count of an out buffer whose contents are
// not sent, and checks that count×elemSize does not overflow and is at most
// MaxAlloc.
func (r *Reader) OutLen(elemSize int) int {
	n := r.U64()
	if r.err != nil {
		return 0
	}
	if elemSize < 1 {
		elemSize = 1
	}
	if n > MaxAlloc/uint64(elemSize) {
		r.off -= 8
		r.Fail("out length", fmt.Sprintf("%d elements of %d bytes exceed the %d-byte limit", n, elemSize, MaxAlloc))
		return 0
	}
	return int(n)
}

// Blob reads a uint64 length and that many bytes, returning a copy.
func (r *Reader) Blob() []byte {
	n := r.Count(1)
	b := r.take(n, "bytes")
	if b == nil {
		return nil
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// BlobInto reads a uint64 length that must equal len(dst) and copies that
// many bytes into dst.
func (r *Reader) BlobInto(dst []byte) {
	n := r.U64()
	if r.err != nil {
		return
	}
	if n != uint64(len(dst)) {
		r.off -= 8
		r.Fail("bytes", fmt.Sprintf("length %d, want %d", n, len(dst)))
		return
	}
	copy(dst, r.take(len(dst), "bytes"))
}

// Raw reads exactly len(dst) bytes into dst.
func (r *Reader) Raw(dst []byte) {
	copy(dst, r.take(len(dst), "array"))
}

// String reads a C string written by Writer.String: the length must be at
// least 1, the last byte must be NUL, and no earlier byte may be NUL.
func (r *Reader) String() string {
	n := r.Count(1)
	if r.err != nil {
		return ""
	}
	start := r.off
	b := r.take(n, "string")
	if b == nil {
		return ""
	}
	if n == 0 || b[n-1] != 0 {
		r.off = start
		r.Fail("string", "not NUL-terminated within its bound")
		return ""
	}
	for i := 0; i < n-1; i++ {
		if b[i] == 0 {
			r.off = start + i
			r.Fail("string", "NUL before the end of its bound")
			return ""
		}
	}
	return string(b[:n-1])
}

// WString reads a wide C string written by Writer.WString.
func (r *Reader) WString() string {
	n := r.Count(4)
	if r.err != nil {
		return ""
	}
	start := r.off
	b := r.take(4*n, "wstring")
	if b == nil {
		return ""
	}
	if n == 0 || binary.LittleEndian.Uint32(b[4*(n-1):]) != 0 {
		r.off = start
		r.Fail("wstring", "not NUL-terminated within its bound")
		return ""
	}
	out := make([]rune, 0, n-1)
	for i := 0; i < n-1; i++ {
		c := binary.LittleEndian.Uint32(b[4*i:])
		if c == 0 || c > utf8.MaxRune || !utf8.ValidRune(rune(c)) {
			r.off = start + 4*i
			r.Fail("wstring", fmt.Sprintf("invalid code unit %#x", c))
			return ""
		}
		out = append(out, rune(c))
	}
	return string(out)
}

// Present reads a presence byte for an optional pointer (0 = nil, 1 = set).
func (r *Reader) Present() bool { return r.Bool() }

// Check records a violation if ok is false.
func (r *Reader) Check(ok bool, what, reason string) {
	if !ok {
		r.Fail(what, reason)
	}
}
