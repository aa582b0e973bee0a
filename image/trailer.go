package image

import (
	"bytes"
	"encoding/binary"
)

// Trailer layout (spec/image.md, "Trailer"). The trailer follows the
// binary; its fixed-size footer is the last footerSize bytes of the file.
// Integers are little-endian.
const (
	offBodyConfig   = 0              // canonical config, configSize bytes
	offBodyKeyType  = configSize     // u16, KeyType
	offBodyReserved = configSize + 2 // u16, 0
	offBodyPubLen   = configSize + 4 // u16, length of the public key
	offBodySigLen   = configSize + 6 // u16, length of the signature
	bodyFixedSize   = configSize + 8 // then public key, then signature

	offFooterBinSize  = 0  // u64, bytes before the trailer
	offFooterTrailer  = 8  // u32, trailer length including the footer
	offFooterVersion  = 12 // u16, trailerVersion
	offFooterReserved = 14 // u16, 0
	offFooterMagic    = 16 // 8 bytes, magic
	footerSize        = 24

	trailerVersion = 1

	maxPublicKeySize = 1024
	maxSignatureSize = 512
	minTrailerSize   = bodyFixedSize + 1 + 1 + footerSize
	maxTrailerSize   = bodyFixedSize + maxPublicKeySize + maxSignatureSize + footerSize
)

// magic ends every signed image.
var magic = [8]byte{'C', 'N', 'F', 'D', 'S', 'I', 'G', 'N'}

// trailer is a parsed, unverified trailer. Slices are copies.
type trailer struct {
	binarySize int
	config     []byte // canonical config, configSize bytes
	keyType    KeyType
	publicKey  []byte // DER SubjectPublicKeyInfo
	signature  []byte
}

// hasFooter reports whether data ends with the trailer magic.
func hasFooter(data []byte) bool {
	return len(data) >= footerSize && bytes.Equal(data[len(data)-len(magic):], magic[:])
}

// footerEndingAt reports whether a structurally consistent footer ends at
// end (exclusive) of data: its binary size plus trailer length equal end.
func footerEndingAt(data []byte, end int) bool {
	if end < footerSize || end > len(data) {
		return false
	}
	f := data[end-footerSize : end]
	le := binary.LittleEndian
	if !bytes.Equal(f[offFooterMagic:], magic[:]) || le.Uint16(f[offFooterVersion:]) != trailerVersion {
		return false
	}
	n := le.Uint64(f[offFooterBinSize:])
	t := uint64(le.Uint32(f[offFooterTrailer:]))
	return t >= minTrailerSize && t <= maxTrailerSize && n+t == uint64(end)
}

// trailerFollowedByJunk reports whether data holds a consistent footer
// that is not at its end: a signed image with bytes appended.
func trailerFollowedByJunk(data []byte) bool {
	end := len(data)
	for {
		i := bytes.LastIndex(data[:end], magic[:])
		if i < 0 {
			return false
		}
		if e := i + len(magic); e != len(data) && footerEndingAt(data, e) {
			return true
		}
		end = i + len(magic) - 1
	}
}

// parseTrailer parses the trailer at the end of data. It is pure: no
// crypto. Data without the magic at its end is ErrUnsigned, unless a
// signed image with bytes appended (ErrMalformed).
func parseTrailer(data []byte) (*trailer, error) {
	if !hasFooter(data) {
		if trailerFollowedByJunk(data) {
			return nil, malformed("trailing data after the trailer")
		}
		return nil, ErrUnsigned
	}
	le := binary.LittleEndian
	f := data[len(data)-footerSize:]
	if v := le.Uint16(f[offFooterVersion:]); v != trailerVersion {
		return nil, malformed("version %d, want %d", v, trailerVersion)
	}
	if r := le.Uint16(f[offFooterReserved:]); r != 0 {
		return nil, malformed("footer reserved field %#x, want 0", r)
	}
	tlen := uint64(le.Uint32(f[offFooterTrailer:]))
	if tlen < minTrailerSize || tlen > maxTrailerSize {
		return nil, malformed("trailer length %d out of range %d..%d", tlen, minTrailerSize, maxTrailerSize)
	}
	if tlen > uint64(len(data)) {
		return nil, malformed("trailer length %d exceeds the %d-byte image", tlen, len(data))
	}
	bin := uint64(len(data)) - tlen
	if n := le.Uint64(f[offFooterBinSize:]); n != bin {
		return nil, malformed("binary size %d, want %d", n, bin)
	}
	body := data[bin : uint64(len(data))-footerSize]
	if r := le.Uint16(body[offBodyReserved:]); r != 0 {
		return nil, malformed("reserved field %#x, want 0", r)
	}
	pl := int(le.Uint16(body[offBodyPubLen:]))
	sl := int(le.Uint16(body[offBodySigLen:]))
	if pl < 1 || pl > maxPublicKeySize {
		return nil, malformed("public key length %d out of range 1..%d", pl, maxPublicKeySize)
	}
	if sl < 1 || sl > maxSignatureSize {
		return nil, malformed("signature length %d out of range 1..%d", sl, maxSignatureSize)
	}
	if bodyFixedSize+pl+sl != len(body) {
		return nil, malformed("lengths %d+%d+%d do not fill the %d-byte trailer body", bodyFixedSize, pl, sl, len(body))
	}
	t := &trailer{
		binarySize: int(bin),
		config:     bytes.Clone(body[offBodyConfig : offBodyConfig+configSize]),
		keyType:    KeyType(le.Uint16(body[offBodyKeyType:])),
		publicKey:  bytes.Clone(body[bodyFixedSize : bodyFixedSize+pl]),
		signature:  bytes.Clone(body[bodyFixedSize+pl:]),
	}
	return t, nil
}

// appendTrailer appends the trailer for binary of length binSize to dst.
func appendTrailer(dst []byte, binSize int, config []byte, kt KeyType, pub, sig []byte) []byte {
	le := binary.LittleEndian
	tlen := bodyFixedSize + len(pub) + len(sig) + footerSize
	dst = append(dst, config...)
	dst = le.AppendUint16(dst, uint16(kt))
	dst = le.AppendUint16(dst, 0)
	dst = le.AppendUint16(dst, uint16(len(pub)))
	dst = le.AppendUint16(dst, uint16(len(sig)))
	dst = append(dst, pub...)
	dst = append(dst, sig...)
	dst = le.AppendUint64(dst, uint64(binSize))
	dst = le.AppendUint32(dst, uint32(tlen))
	dst = le.AppendUint16(dst, trailerVersion)
	dst = le.AppendUint16(dst, 0)
	dst = append(dst, magic[:]...)
	return dst
}
