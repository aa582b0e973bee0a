package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/confide-dev/confide/tee"
)

// Blob layout (all integers little-endian), as in spec/seal.md.
const (
	offMagic     = 0
	offVersion   = 4
	offPolicy    = 5
	offSVN       = 7
	offCPUSVN    = 9
	offKeyID     = 25
	offNonce     = 57
	tagSize      = 16
	maxPlaintext = MaxBlobSize - HeaderSize - tagSize
)

// HeaderSize is the size of a blob's header, the bytes before the
// ciphertext.
const HeaderSize = 69

// Version is the blob format version Seal writes and Open reads.
const Version = 1

// MaxBlobSize is the largest blob Open and ParseHeader accept.
const MaxBlobSize = 1 << 30

// Magic starts every sealed blob.
const Magic = "CFSL"

// REPORT body offsets of CPUSVN and ISVSVN (Intel SDM Vol. 3D, 38.15).
const (
	reportCPUSVN = 0
	reportISVSVN = 258
)

// Errors returned by Seal, Open and ParseHeader.
var (
	// ErrMalformed is returned for a blob that is not a sealed blob:
	// bad magic, truncated, oversized or with an invalid policy.
	ErrMalformed = errors.New("seal: malformed blob")
	// ErrVersion is returned for a blob this code or this enclave must not
	// open: an unknown format version, or a blob sealed by a newer
	// enclave (higher ISVSVN) or on a newer platform TCB (higher CPUSVN).
	// The error is a *VersionError.
	ErrVersion = errors.New("seal: blob version not supported")
	// ErrOpen is returned when the blob does not authenticate: it was
	// sealed by another enclave (under its policy), on another platform,
	// with other additional data, or it was modified.
	ErrOpen = errors.New("seal: blob does not open for this enclave on this platform")
	// ErrPolicy is returned by Seal for a policy other than
	// tee.ByUniqueID or tee.BySigner.
	ErrPolicy = errors.New("seal: invalid key policy")
)

// VersionError says which version check refused a blob.
type VersionError struct {
	// Field is "format", "isvsvn" or "cpusvn".
	Field string
	// Blob is the blob's value; Have is the highest this code or enclave
	// supports.
	Blob, Have string
}

func (e *VersionError) Error() string {
	switch e.Field {
	case "format":
		return fmt.Sprintf("seal: blob format version %s not supported (have %s)", e.Blob, e.Have)
	case "cpusvn":
		return fmt.Sprintf("seal: blob sealed at cpusvn %s, newer than this platform's %s", e.Blob, e.Have)
	default:
		return fmt.Sprintf("seal: blob sealed at %s %s, newer than this enclave's %s; an older enclave never opens a newer one's blobs", e.Field, e.Blob, e.Have)
	}
}

// Unwrap returns ErrVersion.
func (e *VersionError) Unwrap() error { return ErrVersion }

// Header is the parsed header of a sealed blob.
type Header struct {
	// Version is the format version (1).
	Version uint8
	// Policy is tee.ByUniqueID or tee.BySigner.
	Policy tee.KeyPolicy
	// SecurityVersion is the ISVSVN the key was derived for.
	SecurityVersion uint16
	// CPUSVN is the CPU security version the key was derived for.
	CPUSVN [16]byte
	// KeyID diversifies the seal key.
	KeyID [32]byte
	// Nonce is the AES-GCM nonce.
	Nonce [12]byte
	// CiphertextSize is the size of the ciphertext, tag included.
	CiphertextSize int
}

// ParseHeader parses the header of a sealed blob and checks the blob's
// framing. It does no cryptography.
func ParseHeader(blob []byte) (Header, error) {
	var h Header
	if len(blob) > MaxBlobSize {
		return h, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(blob), MaxBlobSize)
	}
	if len(blob) < offVersion+1 || string(blob[offMagic:offMagic+4]) != Magic {
		return h, fmt.Errorf("%w: no magic", ErrMalformed)
	}
	h.Version = blob[offVersion]
	if h.Version != Version {
		return h, &VersionError{Field: "format", Blob: fmt.Sprint(h.Version), Have: fmt.Sprint(Version)}
	}
	if len(blob) < HeaderSize+tagSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than header and tag (%d)", ErrMalformed, len(blob), HeaderSize+tagSize)
	}
	h.Policy = tee.KeyPolicy(binary.LittleEndian.Uint16(blob[offPolicy:]))
	if h.Policy != tee.ByUniqueID && h.Policy != tee.BySigner {
		return h, fmt.Errorf("%w: key policy %#x", ErrMalformed, uint16(h.Policy))
	}
	h.SecurityVersion = binary.LittleEndian.Uint16(blob[offSVN:])
	copy(h.CPUSVN[:], blob[offCPUSVN:])
	copy(h.KeyID[:], blob[offKeyID:])
	copy(h.Nonce[:], blob[offNonce:])
	h.CiphertextSize = len(blob) - HeaderSize
	return h, nil
}

// self returns the calling enclave's CPUSVN and ISVSVN, read from a REPORT
// it makes for itself.
func self(p tee.Platform) ([16]byte, uint16, error) {
	var cpusvn [16]byte
	ti, err := p.TargetInfo()
	if err != nil {
		return cpusvn, 0, fmt.Errorf("seal: target info: %w", err)
	}
	r, err := p.Report(ti, [tee.ReportDataSize]byte{})
	if err != nil {
		return cpusvn, 0, fmt.Errorf("seal: report: %w", err)
	}
	if len(r) != tee.ReportSize {
		return cpusvn, 0, fmt.Errorf("seal: report is %d bytes, want %d", len(r), tee.ReportSize)
	}
	copy(cpusvn[:], r[reportCPUSVN:])
	return cpusvn, binary.LittleEndian.Uint16(r[reportISVSVN:]), nil
}

// aead derives the AES-256-GCM key from the platform's seal key for h and
// zeroes both keys before returning.
func aead(p tee.Platform, h *Header, exact bool) (cipher.AEAD, error) {
	req := tee.KeyRequest{Policy: h.Policy, SecurityVersion: h.SecurityVersion, CPUSVN: h.CPUSVN, KeyID: h.KeyID}
	var sk []byte
	var err error
	if ek, ok := p.(tee.ExactSealKeyer); ok && exact {
		sk, err = ek.SealKeyExact(req)
	} else {
		sk, err = p.SealKey(req)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: seal key: %w", err)
	}
	defer clear(sk)
	key, err := hkdf.Key(sha256.New, sk, h.KeyID[:], "confide seal v1 aes-256-gcm", 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext for the calling enclave on platform p under
// policy (tee.ByUniqueID or tee.BySigner), binding additionalData, which
// Open must be given again.
func Seal(p tee.Platform, policy tee.KeyPolicy, plaintext, additionalData []byte) ([]byte, error) {
	return AppendSeal(nil, p, policy, plaintext, additionalData)
}

// AppendSeal is Seal appending the blob to dst, as cipher.AEAD.Seal does:
// a caller that reuses dst allocates nothing for large blobs. dst and
// plaintext must not overlap.
func AppendSeal(dst []byte, p tee.Platform, policy tee.KeyPolicy, plaintext, additionalData []byte) ([]byte, error) {
	if policy != tee.ByUniqueID && policy != tee.BySigner {
		return nil, fmt.Errorf("%w: %#x", ErrPolicy, uint16(policy))
	}
	if len(plaintext) > maxPlaintext {
		return nil, fmt.Errorf("seal: plaintext of %d bytes is larger than %d", len(plaintext), maxPlaintext)
	}
	cpusvn, svn, err := self(p)
	if err != nil {
		return nil, err
	}
	h := Header{Version: Version, Policy: policy, SecurityVersion: svn, CPUSVN: cpusvn}
	if _, err := io.ReadFull(rand.Reader, h.KeyID[:]); err != nil {
		return nil, fmt.Errorf("seal: random: %w", err)
	}
	if _, err := io.ReadFull(rand.Reader, h.Nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: random: %w", err)
	}
	g, err := aead(p, &h, true)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = slices.Grow(dst, HeaderSize+len(plaintext)+tagSize)
	out := dst[start : start+HeaderSize]
	clear(out)
	copy(out[offMagic:], Magic)
	out[offVersion] = h.Version
	binary.LittleEndian.PutUint16(out[offPolicy:], uint16(h.Policy))
	binary.LittleEndian.PutUint16(out[offSVN:], h.SecurityVersion)
	copy(out[offCPUSVN:], h.CPUSVN[:])
	copy(out[offKeyID:], h.KeyID[:])
	copy(out[offNonce:], h.Nonce[:])
	sealed := g.Seal(out, h.Nonce[:], plaintext, additional(out[:HeaderSize], additionalData))
	return dst[:start+len(sealed)], nil
}

// additional returns header ‖ additionalData; the header has a fixed size,
// so the concatenation is unambiguous.
func additional(header, ad []byte) []byte {
	if len(ad) == 0 {
		return header
	}
	return append(header[:HeaderSize:HeaderSize], ad...)
}

// Open decrypts a blob made by Seal. It returns an error wrapping
// ErrMalformed for a blob that is not one, ErrVersion (a *VersionError) for
// a blob sealed by a newer enclave or platform TCB or in an unknown format,
// and ErrOpen for a blob that does not authenticate for this enclave on
// this platform with this additional data.
func Open(p tee.Platform, blob, additionalData []byte) ([]byte, error) {
	return AppendOpen(nil, p, blob, additionalData)
}

// AppendOpen is Open appending the plaintext to dst, as cipher.AEAD.Open
// does. dst and blob must not overlap.
func AppendOpen(dst []byte, p tee.Platform, blob, additionalData []byte) ([]byte, error) {
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	cpusvn, svn, err := self(p)
	if err != nil {
		return nil, err
	}
	if h.SecurityVersion > svn {
		return nil, &VersionError{Field: "isvsvn", Blob: fmt.Sprint(h.SecurityVersion), Have: fmt.Sprint(svn)}
	}
	for i := range cpusvn {
		if h.CPUSVN[i] > cpusvn[i] {
			return nil, &VersionError{Field: "cpusvn", Blob: fmt.Sprintf("%x", h.CPUSVN), Have: fmt.Sprintf("%x", cpusvn)}
		}
	}
	if h.SecurityVersion == 0 && svn != 0 {
		if _, ok := p.(tee.ExactSealKeyer); !ok {
			return nil, fmt.Errorf("%w: platform cannot derive the security-version-0 key", ErrOpen)
		}
	}
	g, err := aead(p, &h, true)
	if err != nil {
		return nil, err
	}
	pt, err := g.Open(dst, h.Nonce[:], blob[HeaderSize:], additional(blob[:HeaderSize], additionalData))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
