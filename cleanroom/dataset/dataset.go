package dataset

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Stream format constants (spec/cleanroom.md, "Dataset stream").
const (
	// Magic starts every dataset stream.
	Magic = "CFDS"
	// Version is the stream format version written and accepted.
	Version = 1
	// KeySize is the size of a data key.
	KeySize = 32
	// DefaultChunkSize is the plaintext chunk size used when Meta.ChunkSize is zero.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size a header may declare.
	MinChunkSize = 16
	MaxChunkSize = 16 << 20
	// MaxMetaSize bounds the metadata JSON in a header.
	MaxMetaSize = 64 << 10
	// MaxChunks is the number of chunks a stream may hold (the nonce counter is 32 bits).
	MaxChunks = 1 << 32

	offMagic      = 0
	offVersion    = 4
	offFlags      = 5
	offReserved   = 6
	offChunkSize  = 8
	offSalt       = 12
	offNonce      = 28
	offMetaLen    = 36
	fixedHdrSize  = 40
	saltSize      = 16
	noncePrefSize = 8
	tagSize       = 16
	kdfInfo       = "confide-cleanroom-dataset-v1"
)

// Errors reported by Encrypt, Decrypt and ParseHeader.
var (
	// ErrFormat reports a malformed, truncated or oversized stream header or chunk framing.
	ErrFormat = errors.New("dataset: malformed stream")
	// ErrAuth reports a chunk that does not authenticate: wrong key, tampering,
	// truncation, reordering or extension.
	ErrAuth = errors.New("dataset: authentication failed")
	// ErrKey reports a data key of the wrong size.
	ErrKey = errors.New("dataset: data key must be 32 bytes")
)

// Column is one column of a dataset's schema.
type Column struct {
	// Name is the column name.
	Name string `json:"name"`
	// Type is the column type: "string", "int", "time" or "bool".
	Type string `json:"type"`
}

// Meta describes a dataset; it travels, authenticated but not encrypted,
// in the stream header.
type Meta struct {
	// ID names the dataset, as in the contract.
	ID string `json:"id"`
	// Schema lists the columns of the plaintext table.
	Schema []Column `json:"schema,omitempty"`
	// ChunkSize is the plaintext chunk size; zero means DefaultChunkSize.
	// It is not part of the JSON metadata but of the fixed header.
	ChunkSize int `json:"-"`
}

// Header is a parsed stream header.
type Header struct {
	// Meta is the dataset metadata, with ChunkSize set from the header.
	Meta Meta
	// Salt is the key-derivation salt.
	Salt [saltSize]byte
	// NoncePrefix is the random prefix of every chunk nonce.
	NoncePrefix [noncePrefSize]byte
	// Raw is the exact header bytes, bound into every chunk.
	Raw []byte
}

// FormatError gives the context of an ErrFormat or ErrAuth failure.
type FormatError struct {
	// Chunk is the chunk index, or -1 for the header.
	Chunk int64
	// Reason says what was wrong.
	Reason string
	// Err is ErrFormat or ErrAuth.
	Err error
}

func (e *FormatError) Error() string {
	if e.Chunk < 0 {
		return fmt.Sprintf("%v: header: %s", e.Err, e.Reason)
	}
	return fmt.Sprintf("%v: chunk %d: %s", e.Err, e.Chunk, e.Reason)
}

// Unwrap returns ErrFormat or ErrAuth.
func (e *FormatError) Unwrap() error { return e.Err }

func hdrErr(reason string) error { return &FormatError{Chunk: -1, Reason: reason, Err: ErrFormat} }

// ParseHeader reads and parses a stream header from r, consuming exactly the
// header bytes. It does no cryptography.
func ParseHeader(r io.Reader) (*Header, error) {
	fixed := make([]byte, fixedHdrSize)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, hdrErr("truncated fixed header")
	}
	if string(fixed[offMagic:offMagic+4]) != Magic {
		return nil, hdrErr("bad magic")
	}
	if fixed[offVersion] != Version {
		return nil, hdrErr(fmt.Sprintf("unsupported version %d", fixed[offVersion]))
	}
	if fixed[offFlags] != 0 || binary.BigEndian.Uint16(fixed[offReserved:]) != 0 {
		return nil, hdrErr("non-zero flags or reserved field")
	}
	cs := binary.BigEndian.Uint32(fixed[offChunkSize:])
	if cs < MinChunkSize || cs > MaxChunkSize {
		return nil, hdrErr(fmt.Sprintf("chunk size %d out of range", cs))
	}
	ml := binary.BigEndian.Uint32(fixed[offMetaLen:])
	if ml > MaxMetaSize {
		return nil, hdrErr(fmt.Sprintf("metadata size %d exceeds %d", ml, MaxMetaSize))
	}
	raw := make([]byte, fixedHdrSize+int(ml))
	copy(raw, fixed)
	if _, err := io.ReadFull(r, raw[fixedHdrSize:]); err != nil {
		return nil, hdrErr("truncated metadata")
	}
	h := &Header{Raw: raw}
	copy(h.Salt[:], raw[offSalt:])
	copy(h.NoncePrefix[:], raw[offNonce:])
	dec := json.NewDecoder(bytes.NewReader(raw[fixedHdrSize:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h.Meta); err != nil {
		return nil, hdrErr("metadata: " + err.Error())
	}
	if dec.More() || dec.InputOffset() != int64(ml) {
		return nil, hdrErr("trailing data after metadata")
	}
	h.Meta.ChunkSize = int(cs)
	return h, nil
}

func (h *Header) aead(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	sk, err := hkdf.Key(sha256.New, key, h.Salt[:], kdfInfo, KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(sk)
	block, err := aes.NewCipher(sk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// chunkCrypto holds the per-stream values for sealing and opening chunks.
type chunkCrypto struct {
	aead    cipher.AEAD
	hdrHash [32]byte
	prefix  [noncePrefSize]byte
	nonce   [12]byte
	ad      [32 + 8 + 1]byte
}

func newChunkCrypto(h *Header, key []byte) (*chunkCrypto, error) {
	a, err := h.aead(key)
	if err != nil {
		return nil, err
	}
	c := &chunkCrypto{aead: a, hdrHash: sha256.Sum256(h.Raw), prefix: h.NoncePrefix}
	copy(c.nonce[:], c.prefix[:])
	copy(c.ad[:], c.hdrHash[:])
	return c, nil
}

func (c *chunkCrypto) set(index uint64, final bool) {
	binary.BigEndian.PutUint32(c.nonce[noncePrefSize:], uint32(index))
	binary.BigEndian.PutUint64(c.ad[32:], index)
	c.ad[40] = 0
	if final {
		c.ad[40] = 1
	}
}

// Encrypt reads plaintext from r until EOF and writes the encrypted stream
// to w. key must be KeySize bytes; the salt and nonce prefix come from
// crypto/rand. It returns the number of plaintext bytes encrypted.
func Encrypt(w io.Writer, r io.Reader, key []byte, meta Meta) (int64, error) {
	if len(key) != KeySize {
		return 0, ErrKey
	}
	cs := meta.ChunkSize
	if cs == 0 {
		cs = DefaultChunkSize
	}
	if cs < MinChunkSize || cs > MaxChunkSize {
		return 0, fmt.Errorf("dataset: chunk size %d out of range [%d, %d]", cs, MinChunkSize, MaxChunkSize)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return 0, fmt.Errorf("dataset: metadata: %w", err)
	}
	if len(mj) > MaxMetaSize {
		return 0, fmt.Errorf("dataset: metadata is %d bytes, limit %d", len(mj), MaxMetaSize)
	}
	raw := make([]byte, fixedHdrSize+len(mj))
	copy(raw, Magic)
	raw[offVersion] = Version
	binary.BigEndian.PutUint32(raw[offChunkSize:], uint32(cs))
	if _, err := rand.Read(raw[offSalt : offSalt+saltSize+noncePrefSize]); err != nil {
		return 0, err
	}
	binary.BigEndian.PutUint32(raw[offMetaLen:], uint32(len(mj)))
	copy(raw[fixedHdrSize:], mj)
	h := &Header{Raw: raw}
	copy(h.Salt[:], raw[offSalt:])
	copy(h.NoncePrefix[:], raw[offNonce:])
	cc, err := newChunkCrypto(h, key)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(raw); err != nil {
		return 0, err
	}
	// Read one byte ahead so a chunk is sealed as final only when the input
	// has ended.
	buf := make([]byte, cs+1)
	out := make([]byte, 0, cs+tagSize)
	defer clear(buf)
	var total int64
	n, err := io.ReadFull(r, buf)
	for index := uint64(0); ; index++ {
		if index >= MaxChunks {
			return total, errors.New("dataset: stream exceeds the maximum number of chunks")
		}
		final := false
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			final = true
		default:
			return total, err
		}
		m := min(n, cs)
		cc.set(index, final)
		out = cc.aead.Seal(out[:0], cc.nonce[:], buf[:m], cc.ad[:])
		if _, werr := w.Write(out); werr != nil {
			return total, werr
		}
		total += int64(m)
		if final {
			return total, nil
		}
		buf[0] = buf[cs]
		var k int
		k, err = io.ReadFull(r, buf[1:])
		n = k + 1
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	}
}

// Decrypt reads an encrypted stream from r and writes the plaintext to w.
// It returns the stream's metadata. Plaintext is written chunk by chunk as
// each authenticates; if Decrypt returns an error, the caller must discard
// everything written to w (the stream was truncated, extended or altered).
// Data after the final chunk is an error.
func Decrypt(w io.Writer, r io.Reader, key []byte) (*Meta, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := ParseHeader(br)
	if err != nil {
		return nil, err
	}
	cc, err := newChunkCrypto(h, key)
	if err != nil {
		return nil, err
	}
	cs := h.Meta.ChunkSize
	ct := make([]byte, cs+tagSize)
	pt := make([]byte, 0, cs)
	defer clear(pt[:cap(pt)])
	for index := uint64(0); ; index++ {
		if index >= MaxChunks {
			return nil, &FormatError{Chunk: int64(index), Reason: "too many chunks", Err: ErrFormat}
		}
		n, err := io.ReadFull(br, ct)
		final := false
		switch {
		case err == nil:
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				final = true
			} else if perr != nil {
				return nil, perr
			}
		case errors.Is(err, io.ErrUnexpectedEOF) && n >= tagSize:
			final = true
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &FormatError{Chunk: int64(index), Reason: "stream truncated", Err: ErrAuth}
		default:
			return nil, err
		}
		cc.set(index, final)
		pt, err = cc.aead.Open(pt[:0], cc.nonce[:], ct[:n], cc.ad[:])
		if err != nil {
			return nil, &FormatError{Chunk: int64(index), Reason: "chunk does not authenticate", Err: ErrAuth}
		}
		if _, err := w.Write(pt); err != nil {
			return nil, err
		}
		if final {
			m := h.Meta
			return &m, nil
		}
	}
}
