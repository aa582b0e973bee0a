package enclproto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/confide-dev/confide/aesql"
)

// Ecall IDs of the SQL enclave.
const (
	// FnAttest: in a 32-byte client nonce; out the enclave's X25519 public
	// key (32 bytes) then its evidence (an SGX quote) whose report data is
	// ReportData(nonce, key).
	FnAttest uint32 = 1
	// FnPackage: in a sealed key package (Package) then the query text;
	// opens it into the client's session.
	FnPackage uint32 = 2
	// FnLoad: in a LoadRequest; decrypts a batch of a column's cells into
	// the enclave's column cache.
	FnLoad uint32 = 3
	// FnEval: in an EvalRequest; out an EvalResult.
	FnEval uint32 = 4
)

// NonceSize is the size of the client's attestation nonce.
const NonceSize = 32

// KeySize is the size of X25519 public keys and of CEKs.
const KeySize = 32

// MaxCells bounds the cells of one load batch; MaxString the length of a
// name or query.
const (
	MaxCells  = 1 << 20
	MaxString = 1 << 20
	MaxArgs   = 1024
)

// ErrMalformed reports a message that does not decode.
var ErrMalformed = errors.New("enclproto: malformed message")

// ErrPackage reports a key package that does not open.
var ErrPackage = errors.New("enclproto: key package does not open")

const attestLabel = "confide aesql attest v1"

// ReportData returns the report data the enclave's evidence carries:
// SHA-256(label ‖ nonce ‖ enclave key) followed by 32 zero bytes.
func ReportData(nonce, enclaveKey []byte) [64]byte {
	h := sha256.New()
	h.Write([]byte(attestLabel))
	h.Write(nonce)
	h.Write(enclaveKey)
	var rd [64]byte
	copy(rd[:], h.Sum(nil))
	return rd
}

// SessionKey derives the 32-byte session key of a client key and the
// enclave key from their X25519 shared secret:
// HKDF-SHA-256(secret, salt = nonce, info = label ‖ client ‖ enclave).
func SessionKey(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, nonce, clientPub, enclavePub []byte) ([]byte, error) {
	secret, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("enclproto: ecdh: %w", err)
	}
	defer clear(secret)
	info := append([]byte("confide aesql session v1"), clientPub...)
	info = append(info, enclavePub...)
	return hkdf.Key(sha256.New, secret, nonce, string(info), 32)
}

// Package layout: version ‖ client key ‖ nonce ‖ sequence ‖ AES-256-GCM
// ciphertext of the CEK list.
const (
	packageVersion = 1
	packageHeader  = 1 + KeySize + NonceSize + 8
)

// CEK is a named column encryption key inside a package.
type CEK struct {
	Name string
	Key  []byte
}

// Header is the clear part of a key package.
type Header struct {
	ClientKey [KeySize]byte
	Nonce     [NonceSize]byte
	Seq       uint64
}

func gcmFor(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func gcmNonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.LittleEndian.PutUint64(n, seq)
	return n
}

func packageAAD(hdr []byte, query string) []byte {
	q := sha256.Sum256([]byte(query))
	return append(append([]byte{}, hdr...), q[:]...)
}

// SealPackage seals ceks for one query under the session key. seq must
// grow with every package of a session.
func SealPackage(sessionKey []byte, h Header, query string, ceks []CEK) ([]byte, error) {
	if len(ceks) > MaxArgs {
		return nil, fmt.Errorf("%w: %d keys", ErrMalformed, len(ceks))
	}
	out := make([]byte, 0, packageHeader+16+len(ceks)*48)
	out = append(out, packageVersion)
	out = append(out, h.ClientKey[:]...)
	out = append(out, h.Nonce[:]...)
	out = binary.LittleEndian.AppendUint64(out, h.Seq)
	var body []byte
	body = binary.LittleEndian.AppendUint16(body, uint16(len(ceks)))
	for _, c := range ceks {
		if len(c.Key) != KeySize || len(c.Name) > 0xffff {
			return nil, fmt.Errorf("%w: key %q", ErrMalformed, c.Name)
		}
		body = binary.LittleEndian.AppendUint16(body, uint16(len(c.Name)))
		body = append(body, c.Name...)
		body = append(body, c.Key...)
	}
	defer clear(body)
	g, err := gcmFor(sessionKey)
	if err != nil {
		return nil, err
	}
	return g.Seal(out, gcmNonce(h.Seq), body, packageAAD(out[:packageHeader], query)), nil
}

// ParsePackageHeader returns the clear header of a package.
func ParsePackageHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < packageHeader+16 || b[0] != packageVersion {
		return h, fmt.Errorf("%w: package header", ErrMalformed)
	}
	copy(h.ClientKey[:], b[1:])
	copy(h.Nonce[:], b[1+KeySize:])
	h.Seq = binary.LittleEndian.Uint64(b[1+KeySize+NonceSize:])
	return h, nil
}

// OpenPackage opens a package sealed for query under sessionKey.
func OpenPackage(sessionKey, b []byte, query string) ([]CEK, error) {
	h, err := ParsePackageHeader(b)
	if err != nil {
		return nil, err
	}
	g, err := gcmFor(sessionKey)
	if err != nil {
		return nil, err
	}
	body, err := g.Open(nil, gcmNonce(h.Seq), b[packageHeader:], packageAAD(b[:packageHeader], query))
	if err != nil {
		return nil, ErrPackage
	}
	defer clear(body)
	r := &Reader{b: body}
	n := int(r.U16())
	var ceks []CEK
	for range n {
		name := string(r.Bytes16())
		key := r.Fixed(KeySize)
		if r.Err != nil {
			break
		}
		ceks = append(ceks, CEK{Name: name, Key: append([]byte{}, key...)})
	}
	if err := r.Done(); err != nil {
		for _, c := range ceks {
			clear(c.Key)
		}
		return nil, err
	}
	return ceks, nil
}

// AppendType appends an aesql.Type.
func AppendType(b []byte, t aesql.Type) []byte {
	b = append(b, byte(t.Kind), t.Precision, t.Scale)
	b = binary.LittleEndian.AppendUint32(b, uint32(t.Length))
	return binary.LittleEndian.AppendUint32(b, uint32(t.CodePage))
}

// Type reads an aesql.Type.
func (r *Reader) Type() aesql.Type {
	b := r.Fixed(11)
	if b == nil {
		return aesql.Type{}
	}
	return aesql.Type{Kind: aesql.Kind(b[0]), Precision: b[1], Scale: b[2],
		Length: int(int32(binary.LittleEndian.Uint32(b[3:]))), CodePage: int(int32(binary.LittleEndian.Uint32(b[7:])))}
}

// AppendBytes32 appends a uint32 length and b.
func AppendBytes32(dst, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// Reader decodes little-endian fields with bounds checks; the first
// failure sticks in Err.
type Reader struct {
	b   []byte
	Err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

func (r *Reader) fail(what string) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: short %s", ErrMalformed, what)
	}
}

// Fixed returns the next n bytes (aliasing the input) or nil.
func (r *Reader) Fixed(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("field")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// U8 reads a byte.
func (r *Reader) U8() uint8 {
	b := r.Fixed(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// U16 reads a uint16.
func (r *Reader) U16() uint16 {
	b := r.Fixed(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	b := r.Fixed(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// Bytes16 reads a uint16 length and that many bytes.
func (r *Reader) Bytes16() []byte { return r.Fixed(int(r.U16())) }

// Bytes32 reads a uint32 length (at most max) and that many bytes.
func (r *Reader) Bytes32(max int) []byte {
	n := r.U32()
	if r.Err == nil && int64(n) > int64(max) {
		r.Err = fmt.Errorf("%w: field of %d bytes over %d", ErrMalformed, n, max)
		return nil
	}
	return r.Fixed(int(n))
}

// Rest returns the unread bytes.
func (r *Reader) Rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// Done returns Err, or ErrMalformed if bytes are left.
func (r *Reader) Done() error {
	if r.Err != nil {
		return r.Err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return nil
}

// Load flags.
const (
	LoadFirst = 1 << iota
	LoadLast
	// LoadRanked marks a column with an index: every batch carries the
	// stored order-preserving rank of each row (NoRank when none), and
	// the last batch's answer lists the ranks the server must store
	// (RankUpdates).
	LoadRanked
)

// NoRank stands for a row without a stored rank (SQL NULL).
const NoRank int64 = -1

// LoadRequest is a batch of one column's cells, in row order.
type LoadRequest struct {
	ClientKey [KeySize]byte
	Cache     string // the server's name for the column snapshot
	CEK       string
	Type      aesql.Type
	Flags     uint8
	Cells     [][]byte
	// Ranks are the rows' stored ranks when Flags has LoadRanked (one
	// per cell), else nil.
	Ranks []int64
}

// MaxCell bounds one cell in a load or evaluation.
const MaxCell = 1 << 24

// Marshal encodes r.
func (l *LoadRequest) Marshal() []byte {
	n := 0
	for _, c := range l.Cells {
		n += 4 + len(c)
	}
	b := make([]byte, 0, 64+len(l.Cache)+len(l.CEK)+n)
	b = append(b, l.ClientKey[:]...)
	b = AppendBytes32(b, []byte(l.Cache))
	b = AppendBytes32(b, []byte(l.CEK))
	b = AppendType(b, l.Type)
	b = append(b, l.Flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Cells)))
	for _, c := range l.Cells {
		b = AppendBytes32(b, c)
	}
	if l.Flags&LoadRanked != 0 {
		for i := range l.Cells {
			r := NoRank
			if i < len(l.Ranks) {
				r = l.Ranks[i]
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(r))
		}
	}
	return b
}

// ParseLoadRequest decodes a LoadRequest; cells alias b.
func ParseLoadRequest(b []byte) (*LoadRequest, error) {
	r := NewReader(b)
	l := &LoadRequest{}
	copy(l.ClientKey[:], r.Fixed(KeySize))
	l.Cache = string(r.Bytes32(MaxString))
	l.CEK = string(r.Bytes32(MaxString))
	l.Type = r.Type()
	l.Flags = r.U8()
	n := r.U32()
	if r.Err == nil && n > MaxCells {
		return nil, fmt.Errorf("%w: %d cells", ErrMalformed, n)
	}
	for i := uint32(0); i < n && r.Err == nil; i++ {
		l.Cells = append(l.Cells, r.Bytes32(MaxCell))
	}
	if l.Flags&LoadRanked != 0 && r.Err == nil {
		raw := r.Fixed(8 * int(n))
		if raw != nil {
			l.Ranks = make([]int64, n)
			for i := range l.Ranks {
				l.Ranks[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return l, nil
}

// RankUpdate is a rank the server must store for the row at Pos (its
// position in the loaded column).
type RankUpdate struct {
	Pos  uint32
	Rank int64
}

// MarshalRankUpdates encodes the answer to the last batch of a ranked
// load: u32 count, then count × (u32 position ‖ i64 rank).
func MarshalRankUpdates(us []RankUpdate) []byte {
	b := make([]byte, 0, 4+12*len(us))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(us)))
	for _, u := range us {
		b = binary.LittleEndian.AppendUint32(b, u.Pos)
		b = binary.LittleEndian.AppendUint64(b, uint64(u.Rank))
	}
	return b
}

// ParseRankUpdates decodes MarshalRankUpdates for a column of n rows:
// positions must be ascending and below n, ranks not negative.
func ParseRankUpdates(b []byte, n int) ([]RankUpdate, error) {
	r := NewReader(b)
	count := r.U32()
	if r.Err == nil && int64(count) > int64(n) {
		return nil, fmt.Errorf("%w: %d rank updates for %d rows", ErrMalformed, count, n)
	}
	raw := r.Fixed(12 * int(count))
	if err := r.Done(); err != nil {
		return nil, err
	}
	us := make([]RankUpdate, count)
	for i := range us {
		us[i] = RankUpdate{Pos: binary.LittleEndian.Uint32(raw[12*i:]), Rank: int64(binary.LittleEndian.Uint64(raw[12*i+4:]))}
		if int64(us[i].Pos) >= int64(n) || us[i].Rank < 0 || i > 0 && us[i].Pos <= us[i-1].Pos {
			return nil, fmt.Errorf("%w: rank update %d out of order or range", ErrMalformed, i)
		}
	}
	return us, nil
}

// EvalRequest asks the enclave to evaluate predicate Pred of Query (its
// index in sqlq's analysis) on the cached column Cache, with the
// parameters the client encrypted.
type EvalRequest struct {
	ClientKey [KeySize]byte
	Query     string
	Pred      uint32
	Cache     string
	CEK       string
	Type      aesql.Type
	Args      [][]byte
}

// Marshal encodes e.
func (e *EvalRequest) Marshal() []byte {
	b := append([]byte{}, e.ClientKey[:]...)
	b = AppendBytes32(b, []byte(e.Query))
	b = binary.LittleEndian.AppendUint32(b, e.Pred)
	b = AppendBytes32(b, []byte(e.Cache))
	b = AppendBytes32(b, []byte(e.CEK))
	b = AppendType(b, e.Type)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.Args)))
	for _, a := range e.Args {
		b = AppendBytes32(b, a)
	}
	return b
}

// ParseEvalRequest decodes an EvalRequest; args alias b.
func ParseEvalRequest(b []byte) (*EvalRequest, error) {
	r := NewReader(b)
	e := &EvalRequest{}
	copy(e.ClientKey[:], r.Fixed(KeySize))
	e.Query = string(r.Bytes32(MaxString))
	e.Pred = r.U32()
	e.Cache = string(r.Bytes32(MaxString))
	e.CEK = string(r.Bytes32(MaxString))
	e.Type = r.Type()
	n := r.U16()
	if r.Err == nil && n > MaxArgs {
		return nil, fmt.Errorf("%w: %d arguments", ErrMalformed, n)
	}
	for i := uint16(0); i < n && r.Err == nil; i++ {
		e.Args = append(e.Args, r.Bytes32(MaxCell))
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return e, nil
}

// Result kinds.
const (
	// ResultBitmap: bit i (LSB first) set when row i matches.
	ResultBitmap = 1
	// ResultRanks: a uint32 per row, the dense rank of its value (1 for
	// the smallest); 0 for a row whose cell is NULL.
	ResultRanks = 2
	// ResultPositions: the ascending positions of the matching rows, a
	// uint32 each (sent instead of a bitmap when few rows match).
	ResultPositions = 3
	// ResultRankRanges: for a column loaded with LoadRanked, the rows
	// that match are those whose stored rank lies in one of Ranges
	// (inclusive, ascending, disjoint).
	ResultRankRanges = 4
)

// MaxRankRanges bounds the ranges of a ResultRankRanges answer.
const MaxRankRanges = 2*MaxArgs + 2

// EvalResult is the enclave's answer for one predicate over N rows.
type EvalResult struct {
	Kind   uint8
	N      uint32
	Bitmap []byte
	// Ranks holds the ranks of ResultRanks, or the positions of
	// ResultPositions.
	Ranks []uint32
	// Ranges holds the inclusive rank ranges of ResultRankRanges.
	Ranges [][2]int64
}

// Marshal encodes e.
func (e *EvalResult) Marshal() []byte {
	b := []byte{e.Kind}
	b = binary.LittleEndian.AppendUint32(b, e.N)
	if e.Kind == ResultBitmap {
		return append(b, e.Bitmap...)
	}
	if e.Kind == ResultRankRanges {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Ranges)))
		for _, r := range e.Ranges {
			b = binary.LittleEndian.AppendUint64(b, uint64(r[0]))
			b = binary.LittleEndian.AppendUint64(b, uint64(r[1]))
		}
		return b
	}
	if e.Kind == ResultPositions {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Ranks)))
	}
	off := len(b)
	b = append(b, make([]byte, 4*len(e.Ranks))...)
	for i, v := range e.Ranks {
		binary.LittleEndian.PutUint32(b[off+4*i:], v)
	}
	return b
}

// ParseEvalResult decodes an EvalResult; it checks sizes against N.
func ParseEvalResult(b []byte) (*EvalResult, error) {
	r := NewReader(b)
	e := &EvalResult{Kind: r.U8(), N: r.U32()}
	if r.Err != nil {
		return nil, r.Err
	}
	switch e.Kind {
	case ResultBitmap:
		e.Bitmap = append([]byte{}, r.Fixed(int((e.N+7)/8))...)
	case ResultRanks, ResultPositions:
		count := int(e.N)
		if e.Kind == ResultPositions {
			count = int(r.U32())
			if count > int(e.N) {
				return nil, fmt.Errorf("%w: %d positions for %d rows", ErrMalformed, count, e.N)
			}
		}
		raw := r.Fixed(4 * count)
		if raw != nil {
			e.Ranks = make([]uint32, count)
			for i := range e.Ranks {
				e.Ranks[i] = binary.LittleEndian.Uint32(raw[4*i:])
				if e.Kind == ResultPositions && (e.Ranks[i] >= e.N || i > 0 && e.Ranks[i] <= e.Ranks[i-1]) {
					return nil, fmt.Errorf("%w: positions not ascending below %d", ErrMalformed, e.N)
				}
			}
		}
	case ResultRankRanges:
		count := r.U32()
		if r.Err == nil && count > MaxRankRanges {
			return nil, fmt.Errorf("%w: %d rank ranges", ErrMalformed, count)
		}
		raw := r.Fixed(16 * int(count))
		if raw != nil {
			e.Ranges = make([][2]int64, count)
			for i := range e.Ranges {
				lo, hi := int64(binary.LittleEndian.Uint64(raw[16*i:])), int64(binary.LittleEndian.Uint64(raw[16*i+8:]))
				if lo < 0 || hi < lo || i > 0 && lo <= e.Ranges[i-1][1] {
					return nil, fmt.Errorf("%w: rank ranges not ascending", ErrMalformed)
				}
				e.Ranges[i] = [2]int64{lo, hi}
			}
		}
	default:
		return nil, fmt.Errorf("%w: result kind %d", ErrMalformed, e.Kind)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return e, nil
}
