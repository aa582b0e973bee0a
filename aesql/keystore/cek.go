package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Encrypted CEK value layout (spec/aesql.md, "Wrapped column encryption
// keys"; SqlClient EncryptedColumnEncryptionKeyParameters).
const (
	// CEKVersion is the first byte of an encrypted CEK value.
	CEKVersion = 0x01

	versionOff       = 0
	keyPathLenOff    = versionOff + 1
	ciphertextLenOff = keyPathLenOff + 2
	keyPathOff       = ciphertextLenOff + 2
	headerSize       = keyPathOff

	// MaxKeyPathBytes bounds the UTF-16LE key path: its length field is
	// 16 bits and SqlClient limits paths to fewer than 32767 characters.
	MaxKeyPathBytes = 0xFFFF - 1
	// maxRSABytes is the modulus size of the largest RSA key accepted
	// (16384 bits).
	maxRSABytes = 2048
)

var (
	// ErrMalformed reports an encrypted CEK value or a key file that is
	// not well formed.
	ErrMalformed = errors.New("keystore: malformed encrypted column encryption key")
	// ErrSignature reports a signature (on an encrypted CEK value or on
	// CMK metadata) that does not verify.
	ErrSignature = errors.New("keystore: signature does not verify")
	// ErrAlgorithm reports a key encryption algorithm other than RSA_OAEP.
	ErrAlgorithm = errors.New("keystore: unsupported key encryption algorithm")
	// ErrKeyPath reports a key path the store cannot use.
	ErrKeyPath = errors.New("keystore: invalid key path")
	// ErrKey reports a column master key that is not usable (not RSA, too
	// small, or of the wrong size for the value).
	ErrKey = errors.New("keystore: unusable column master key")
	// ErrCEK reports a column encryption key that is empty or, once
	// unwrapped, not what was expected.
	ErrCEK = errors.New("keystore: invalid column encryption key")
)

// FormatError gives the reason an encrypted CEK value was rejected. It
// wraps ErrMalformed.
type FormatError struct {
	Offset int    // byte offset of the problem
	Reason string // lowercase
}

// Error implements error.
func (e *FormatError) Error() string {
	return fmt.Sprintf("keystore: malformed encrypted column encryption key at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrMalformed.
func (e *FormatError) Unwrap() error { return ErrMalformed }

// EncryptedCEK is a parsed encrypted column encryption key value.
type EncryptedCEK struct {
	// KeyPath is the CMK key path recorded in the value. SqlClient does
	// not check it against the path it was asked to use; neither do the
	// stores here.
	KeyPath string
	// Ciphertext is the RSA-OAEP encryption of the CEK.
	Ciphertext []byte
	// Signature is the RSA signature over the SHA-256 of SignedBytes.
	Signature []byte
}

// ParseEncryptedCEK parses an encrypted CEK value. It checks the framing
// only: version, lengths, UTF-16 key path, and that the signature is as
// long as the ciphertext (both are one RSA modulus). It does no
// cryptography. The result does not alias b.
func ParseEncryptedCEK(b []byte) (*EncryptedCEK, error) {
	if len(b) < headerSize {
		return nil, &FormatError{Offset: len(b), Reason: fmt.Sprintf("truncated header: %d bytes, want at least %d", len(b), headerSize)}
	}
	if b[versionOff] != CEKVersion {
		return nil, &FormatError{Offset: versionOff, Reason: fmt.Sprintf("version 0x%02x, want 0x%02x", b[versionOff], CEKVersion)}
	}
	pathLen := int(binary.LittleEndian.Uint16(b[keyPathLenOff:]))
	ctLen := int(binary.LittleEndian.Uint16(b[ciphertextLenOff:]))
	switch {
	case pathLen == 0 || pathLen%2 != 0:
		return nil, &FormatError{Offset: keyPathLenOff, Reason: fmt.Sprintf("key path length %d is not a positive even number", pathLen)}
	case ctLen == 0 || ctLen > maxRSABytes:
		return nil, &FormatError{Offset: ciphertextLenOff, Reason: fmt.Sprintf("ciphertext length %d out of range", ctLen)}
	}
	ctOff := keyPathOff + pathLen
	sigOff := ctOff + ctLen
	if len(b) < sigOff+ctLen {
		return nil, &FormatError{Offset: len(b), Reason: fmt.Sprintf("truncated: %d bytes, want %d", len(b), sigOff+ctLen)}
	}
	if len(b) > sigOff+ctLen {
		return nil, &FormatError{Offset: sigOff + ctLen, Reason: fmt.Sprintf("%d trailing bytes (signature longer than ciphertext)", len(b)-sigOff-ctLen)}
	}
	path, ok := decodeUTF16(b[keyPathOff:ctOff])
	if !ok {
		return nil, &FormatError{Offset: keyPathOff, Reason: "key path is not valid utf-16"}
	}
	return &EncryptedCEK{
		KeyPath:    path,
		Ciphertext: append([]byte(nil), b[ctOff:sigOff]...),
		Signature:  append([]byte(nil), b[sigOff:]...),
	}, nil
}

// SignedBytes returns the bytes the signature covers: version, lengths,
// key path and ciphertext.
func (e *EncryptedCEK) SignedBytes() ([]byte, error) {
	path := encodeUTF16(e.KeyPath)
	switch {
	case !utf8.ValidString(e.KeyPath) || len(path) == 0 || len(path) > MaxKeyPathBytes:
		return nil, fmt.Errorf("%w: %d-byte utf-16 key path", ErrKeyPath, len(path))
	case len(e.Ciphertext) == 0 || len(e.Ciphertext) > maxRSABytes:
		return nil, &FormatError{Offset: keyPathOff + len(path), Reason: fmt.Sprintf("ciphertext length %d out of range", len(e.Ciphertext))}
	}
	b := make([]byte, headerSize, headerSize+len(path)+2*len(e.Ciphertext))
	b[versionOff] = CEKVersion
	binary.LittleEndian.PutUint16(b[keyPathLenOff:], uint16(len(path)))
	binary.LittleEndian.PutUint16(b[ciphertextLenOff:], uint16(len(e.Ciphertext)))
	b = append(b, path...)
	return append(b, e.Ciphertext...), nil
}

// Marshal encodes the value. The signature must be as long as the
// ciphertext.
func (e *EncryptedCEK) Marshal() ([]byte, error) {
	b, err := e.SignedBytes()
	if err != nil {
		return nil, err
	}
	if len(e.Signature) != len(e.Ciphertext) {
		return nil, &FormatError{Offset: len(b), Reason: fmt.Sprintf("signature length %d differs from ciphertext length %d", len(e.Signature), len(e.Ciphertext))}
	}
	return append(b, e.Signature...), nil
}

func encodeUTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func decodeUTF16(b []byte) (string, bool) {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	for i := 0; i < len(u); i++ {
		switch {
		case u[i] >= 0xD800 && u[i] < 0xDC00:
			if i+1 >= len(u) || u[i+1] < 0xDC00 || u[i+1] >= 0xE000 {
				return "", false
			}
			i++
		case u[i] >= 0xDC00 && u[i] < 0xE000:
			return "", false
		}
	}
	return string(utf16.Decode(u)), true
}
