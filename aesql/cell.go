package aesql

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"unicode/utf16"
)

// Algorithm is the SQL Server name of the cell encryption algorithm this
// package implements.
const Algorithm = "AEAD_AES_256_CBC_HMAC_SHA256"

// Cell layout (spec/aesql.md, "Cells"; SqlClient
// SqlAeadAes256CbcHmac256Algorithm).
const (
	// KeySize is the size in bytes of a column encryption key.
	KeySize = 32
	// CellVersion is the first byte of every cell.
	CellVersion = 0x01

	versionOff = 0
	tagOff     = versionOff + 1
	tagSize    = sha256.Size
	ivOff      = tagOff + tagSize
	ivSize     = aes.BlockSize
	ctOff      = ivOff + ivSize

	// MinCellSize is the size of the smallest well-formed cell: version,
	// tag, IV and one cipher block (an empty plaintext pads to one block).
	MinCellSize = ctOff + aes.BlockSize
	// MaxCellSize bounds the cells Decrypt accepts (and so the plaintexts
	// Encrypt accepts): SQL Server's varbinary(max) limit of 2^31-1 bytes.
	MaxCellSize = 1<<31 - 1
	// MaxPlaintextSize is the largest plaintext Encrypt accepts.
	MaxPlaintextSize = (MaxCellSize-ctOff)/aes.BlockSize*aes.BlockSize - 1
)

// versionSize is the byte that SQL Server appends to the MAC input: the
// length in bytes of the version field, which is one.
var versionSizeByte = [1]byte{1}

// Sub-key derivation labels. Each sub-key is HMAC-SHA-256 keyed with the CEK
// over the UTF-16LE encoding of the label.
const (
	encLabel = "Microsoft SQL Server cell encryption key with encryption algorithm:" + Algorithm + " and key length:256"
	macLabel = "Microsoft SQL Server cell MAC key with encryption algorithm:" + Algorithm + " and key length:256"
	ivLabel  = "Microsoft SQL Server cell IV key with encryption algorithm:" + Algorithm + " and key length:256"
)

var (
	// ErrKeySize reports a column encryption key that is not 32 bytes.
	ErrKeySize = errors.New("aesql: column encryption key must be 32 bytes")
	// ErrMAC reports a cell whose authentication tag does not match: the
	// cell was altered or encrypted under another key.
	ErrMAC = errors.New("aesql: cell authentication tag mismatch")
	// ErrMalformed reports a cell that is not well formed: truncated, too
	// long, with an unknown version byte, a ciphertext that is not a whole
	// number of blocks, or bad padding (checked only after the MAC).
	ErrMalformed = errors.New("aesql: malformed cell")
	// ErrClosed reports use of a Key after Close.
	ErrClosed = errors.New("aesql: key is closed")
	// ErrTooLarge reports a plaintext too large to fit in a cell.
	ErrTooLarge = errors.New("aesql: plaintext too large")
)

// CellError gives the reason a cell was rejected. It wraps ErrMalformed.
type CellError struct {
	Reason string // what was wrong, lowercase
	Len    int    // the length of the rejected cell
}

// Error implements error.
func (e *CellError) Error() string {
	return fmt.Sprintf("aesql: malformed cell (%d bytes): %s", e.Len, e.Reason)
}

// Unwrap returns ErrMalformed.
func (e *CellError) Unwrap() error { return ErrMalformed }

// Options configures NewKeyWithOptions.
type Options struct {
	// Rand supplies randomized IVs. Nil means crypto/rand.Reader.
	Rand io.Reader
}

// Key is a column encryption key with its derived sub-keys. It is safe for
// concurrent use. Close zeroes the key material.
type Key struct {
	mu     sync.RWMutex
	closed bool
	encKey [KeySize]byte
	macKey [KeySize]byte
	ivKey  [KeySize]byte
	block  cipher.Block
	rand   io.Reader
}

// NewKey derives the sub-keys of the 32-byte column encryption key cek. The
// caller may zero cek afterwards; the Key keeps only the derived keys.
func NewKey(cek []byte) (*Key, error) {
	return NewKeyWithOptions(cek, nil)
}

// NewKeyWithOptions is NewKey with options; opts may be nil.
func NewKeyWithOptions(cek []byte, opts *Options) (*Key, error) {
	if len(cek) != KeySize {
		return nil, ErrKeySize
	}
	k := &Key{rand: rand.Reader}
	if opts != nil && opts.Rand != nil {
		k.rand = opts.Rand
	}
	derive(k.encKey[:], cek, encLabel)
	derive(k.macKey[:], cek, macLabel)
	derive(k.ivKey[:], cek, ivLabel)
	b, err := aes.NewCipher(k.encKey[:])
	if err != nil {
		return nil, fmt.Errorf("aesql: %w", err)
	}
	k.block = b
	return k, nil
}

// derive writes HMAC-SHA-256(cek, UTF-16LE(label)) to dst.
func derive(dst, cek []byte, label string) {
	m := hmac.New(sha256.New, cek)
	m.Write(utf16le(label))
	m.Sum(dst[:0])
}

// utf16le encodes s as UTF-16 little-endian, as .NET Encoding.Unicode does.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return b
}

// Close zeroes the key material. Later calls to Encrypt and Decrypt return
// ErrClosed. Close is idempotent and always returns nil.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.encKey[:])
	clear(k.macKey[:])
	clear(k.ivKey[:])
	k.block = nil
	k.closed = true
	return nil
}

// Encrypt encrypts the normalised plaintext plain into a cell. With det set
// the IV is derived from the plaintext (deterministic encryption); otherwise
// it is drawn from the key's random source (randomized encryption).
func (k *Key) Encrypt(plain []byte, det bool) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	if len(plain) > MaxPlaintextSize {
		return nil, ErrTooLarge
	}
	padLen := aes.BlockSize - len(plain)%aes.BlockSize
	ctLen := len(plain) + padLen
	cell := make([]byte, ctOff+ctLen)
	cell[versionOff] = CellVersion
	iv := cell[ivOff:ctOff]
	if det {
		m := hmac.New(sha256.New, k.ivKey[:])
		m.Write(plain)
		var sum [sha256.Size]byte
		copy(iv, m.Sum(sum[:0]))
	} else if _, err := io.ReadFull(k.rand, iv); err != nil {
		return nil, fmt.Errorf("aesql: reading random iv: %w", err)
	}
	ct := cell[ctOff:]
	copy(ct, plain)
	for i := len(plain); i < ctLen; i++ {
		ct[i] = byte(padLen)
	}
	cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(ct, ct)
	k.tag(cell[tagOff:tagOff], cell)
	return cell, nil
}

// tag appends to dst the authentication tag of cell: HMAC-SHA-256 with the
// MAC key over version ‖ IV ‖ ciphertext ‖ 0x01.
func (k *Key) tag(dst, cell []byte) []byte {
	var m hash.Hash = hmac.New(sha256.New, k.macKey[:])
	m.Write(cell[versionOff:tagOff])
	m.Write(cell[ivOff:])
	m.Write(versionSizeByte[:])
	return m.Sum(dst)
}

// Decrypt checks the authentication tag of cell and returns its plaintext.
// It returns an error wrapping ErrMalformed for a cell that is not well
// formed and ErrMAC when the tag does not match. The result never aliases
// cell.
func (k *Key) Decrypt(cell []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	switch {
	case len(cell) < MinCellSize:
		return nil, &CellError{Reason: fmt.Sprintf("shorter than the minimum of %d bytes", MinCellSize), Len: len(cell)}
	case len(cell) > MaxCellSize:
		return nil, &CellError{Reason: "longer than the maximum cell size", Len: len(cell)}
	case cell[versionOff] != CellVersion:
		return nil, &CellError{Reason: fmt.Sprintf("version byte 0x%02x, want 0x%02x", cell[versionOff], CellVersion), Len: len(cell)}
	case (len(cell)-ctOff)%aes.BlockSize != 0:
		return nil, &CellError{Reason: "ciphertext is not a whole number of blocks", Len: len(cell)}
	}
	var sum [sha256.Size]byte
	want := k.tag(sum[:0], cell)
	if subtle.ConstantTimeCompare(want, cell[tagOff:ivOff]) != 1 {
		return nil, ErrMAC
	}
	out := make([]byte, len(cell)-ctOff)
	cipher.NewCBCDecrypter(k.block, cell[ivOff:ctOff]).CryptBlocks(out, cell[ctOff:])
	n, ok := unpad(out)
	if !ok {
		clear(out)
		return nil, &CellError{Reason: "bad pkcs#7 padding", Len: len(cell)}
	}
	return out[:n], nil
}

// unpad checks PKCS#7 padding on b and returns the length of the data.
func unpad(b []byte) (int, bool) {
	p := int(b[len(b)-1])
	if p == 0 || p > aes.BlockSize {
		return 0, false
	}
	for _, c := range b[len(b)-p:] {
		if int(c) != p {
			return 0, false
		}
	}
	return len(b) - p, true
}
