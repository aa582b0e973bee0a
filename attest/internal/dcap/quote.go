// Package dcap parses and verifies what SGX and TDX DCAP quotes share: the
// header, the ECDSA signature section with the QE report and the PCK
// certificate chain, the PCK certificate's SGX extension, TCB info, QE
// identity, CRLs, and TCB level matching.
//
// Layouts follow Intel's "Intel SGX ECDSA Quote Library API" (quote v3,
// appendix A.4), "Intel TDX DCAP Quoting Library API" (quote v4 and v5,
// appendix A.3/A.4) and the "Intel SGX PCK Certificate and CRL Profile".
package dcap

import (
	"encoding/binary"
	"fmt"

	"github.com/confide-dev/confide/attest"
)

// Quote header (48 bytes).
const (
	HeaderSize    = 48
	offVersion    = 0
	offAttKeyType = 2
	offTEEType    = 4 // reserved (zero) in v3
	offQESVN      = 8
	offPCESVN     = 10
	offQEVendorID = 12
	offUserData   = 28
)

// Body sizes: SGX enclave report body, TD report 1.0 (TDX 1.0) and TD
// report 1.5 (TDX 1.5, quote v5 body type 3).
const (
	SGXBodySize  = 384
	TD10BodySize = 584
	TD15BodySize = 648
)

// TEE types in the header (v4, v5).
const (
	TEETypeSGX = 0x00000000
	TEETypeTDX = 0x00000081
)

// Body types of the quote v5 body descriptor.
const (
	BodySGX  = 1
	BodyTD10 = 2
	BodyTD15 = 3
)

const (
	attKeyECDSAP256 = 2
	// CertPCKChain is certification data type 5: the PCK certificate
	// chain, PEM (leaf ‖ intermediate ‖ root).
	CertPCKChain = 5
	// certQEReport is certification data type 6 (v4, v5): QE report,
	// its signature, QE authentication data and nested certification data.
	certQEReport = 6
	sigSize      = 64
	attKeySize   = 64
	// MaxQuote bounds a quote buffer (with padding).
	MaxQuote = 128 << 10
)

// Quote is a parsed DCAP quote. Byte slices are copies of the input.
type Quote struct {
	Version    uint16
	AttKeyType uint16
	TEEType    uint32
	QESVN      uint16
	PCESVN     uint16
	QEVendorID [16]byte
	UserData   [20]byte
	// BodyType is BodySGX, BodyTD10 or BodyTD15.
	BodyType uint16
	// Body is the SGX report body or TD report.
	Body []byte
	// Signed is what the attestation key signed: header and body (and, in
	// v5, the body descriptor).
	Signed []byte

	Signature   [sigSize]byte    // ECDSA over Signed, r ‖ s
	AttKey      [attKeySize]byte // attestation public key, x ‖ y
	QEReport    []byte           // the QE's SGX report body (384 bytes)
	QEReportSig [sigSize]byte    // PCK signature over QEReport
	QEAuthData  []byte
	CertType    uint16
	CertData    []byte
	// Padding counts the zero bytes that followed the quote.
	Padding int
}

// reader reads little-endian fields with bounds checks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: quote truncated in %s (need %d bytes at offset %d, have %d)", attest.ErrMalformed, what, n, r.off, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u16(what string) uint16 {
	if b := r.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Parse parses a DCAP quote of version 3, 4 or 5 with an ECDSA-256
// attestation key. Zero bytes after the quote are accepted and counted;
// any other trailing byte is ErrMalformed. Parse is pure.
func Parse(b []byte) (*Quote, error) {
	if len(b) > MaxQuote {
		return nil, fmt.Errorf("%w: quote of %d bytes exceeds %d", attest.ErrMalformed, len(b), MaxQuote)
	}
	r := &reader{b: b}
	h := r.take(HeaderSize, "header")
	if r.err != nil {
		return nil, r.err
	}
	q := &Quote{
		Version:    binary.LittleEndian.Uint16(h[offVersion:]),
		AttKeyType: binary.LittleEndian.Uint16(h[offAttKeyType:]),
		TEEType:    binary.LittleEndian.Uint32(h[offTEEType:]),
		QESVN:      binary.LittleEndian.Uint16(h[offQESVN:]),
		PCESVN:     binary.LittleEndian.Uint16(h[offPCESVN:]),
	}
	copy(q.QEVendorID[:], h[offQEVendorID:])
	copy(q.UserData[:], h[offUserData:])
	if q.AttKeyType != attKeyECDSAP256 {
		return nil, fmt.Errorf("%w: attestation key type %d (only 2, ECDSA-256-with-P-256, is supported)", attest.ErrMalformed, q.AttKeyType)
	}
	switch q.Version {
	case 3:
		if q.TEEType != 0 {
			return nil, fmt.Errorf("%w: quote v3 reserved header field is %#x", attest.ErrMalformed, q.TEEType)
		}
		q.BodyType = BodySGX
	case 4:
		switch q.TEEType {
		case TEETypeSGX:
			q.BodyType = BodySGX
		case TEETypeTDX:
			q.BodyType = BodyTD10
		default:
			return nil, fmt.Errorf("%w: TEE type %#x", attest.ErrMalformed, q.TEEType)
		}
	case 5:
		q.BodyType = r.u16("body type")
		size := r.u32("body size")
		if r.err != nil {
			return nil, r.err
		}
		want := map[uint16]uint32{BodySGX: SGXBodySize, BodyTD10: TD10BodySize, BodyTD15: TD15BodySize}[q.BodyType]
		if want == 0 || size != want {
			return nil, fmt.Errorf("%w: quote v5 body type %d with size %d", attest.ErrMalformed, q.BodyType, size)
		}
		if (q.BodyType == BodySGX) != (q.TEEType == TEETypeSGX) || (q.TEEType != TEETypeSGX && q.TEEType != TEETypeTDX) {
			return nil, fmt.Errorf("%w: TEE type %#x with body type %d", attest.ErrMalformed, q.TEEType, q.BodyType)
		}
	default:
		return nil, fmt.Errorf("%w: quote version %d (3, 4 and 5 are supported)", attest.ErrMalformed, q.Version)
	}
	size := map[uint16]int{BodySGX: SGXBodySize, BodyTD10: TD10BodySize, BodyTD15: TD15BodySize}[q.BodyType]
	q.Body = clone(r.take(size, "report body"))
	if r.err != nil {
		return nil, r.err
	}
	q.Signed = clone(b[:r.off])

	sdLen := r.u32("signature data length")
	if r.err != nil {
		return nil, r.err
	}
	if uint64(sdLen) > uint64(len(b)-r.off) {
		return nil, fmt.Errorf("%w: signature data length %d exceeds the %d bytes left", attest.ErrMalformed, sdLen, len(b)-r.off)
	}
	sd := &reader{b: b[r.off : r.off+int(sdLen)]}
	copy(q.Signature[:], sd.take(sigSize, "quote signature"))
	copy(q.AttKey[:], sd.take(attKeySize, "attestation key"))
	if q.Version == 3 {
		parseQECertData(sd, q)
	} else {
		typ := sd.u16("certification data type")
		n := sd.u32("certification data size")
		if sd.err == nil && typ != certQEReport {
			return nil, fmt.Errorf("%w: outer certification data type %d (want 6, QE report)", attest.ErrMalformed, typ)
		}
		if sd.err == nil && uint64(n) != uint64(len(sd.b)-sd.off) {
			return nil, fmt.Errorf("%w: certification data size %d, %d bytes left", attest.ErrMalformed, n, len(sd.b)-sd.off)
		}
		parseQECertData(sd, q)
	}
	if sd.err != nil {
		return nil, sd.err
	}
	if sd.off != len(sd.b) {
		return nil, fmt.Errorf("%w: %d bytes after the certification data inside the signature data", attest.ErrMalformed, len(sd.b)-sd.off)
	}
	rest := b[r.off+int(sdLen):]
	for i, c := range rest {
		if c != 0 {
			return nil, fmt.Errorf("%w: non-zero byte %#x at offset %d after the quote", attest.ErrMalformed, c, r.off+int(sdLen)+i)
		}
	}
	q.Padding = len(rest)
	return q, nil
}

// parseQECertData reads QE report, its signature, the QE authentication
// data and the (inner) certification data.
func parseQECertData(sd *reader, q *Quote) {
	q.QEReport = clone(sd.take(SGXBodySize, "QE report"))
	copy(q.QEReportSig[:], sd.take(sigSize, "QE report signature"))
	n := sd.u16("QE authentication data size")
	q.QEAuthData = clone(sd.take(int(n), "QE authentication data"))
	q.CertType = sd.u16("certification data type")
	m := sd.u32("certification data size")
	if sd.err != nil {
		return
	}
	if uint64(m) != uint64(len(sd.b)-sd.off) {
		sd.err = fmt.Errorf("%w: certification data size %d, %d bytes left", attest.ErrMalformed, m, len(sd.b)-sd.off)
		return
	}
	q.CertData = clone(sd.take(int(m), "certification data"))
}

// SGX report body offsets (Intel SDM, REPORTBODY).
const (
	OffCPUSVN       = 0
	OffMiscSelect   = 16
	OffISVExtProdID = 32
	OffAttributes   = 48
	OffMREnclave    = 64
	OffMRSigner     = 128
	OffConfigID     = 192
	OffISVProdID    = 256
	OffISVSVN       = 258
	OffConfigSVN    = 260
	OffISVFamilyID  = 304
	OffReportData   = 320
)

// CheckSGXBodyReserved reports a non-zero reserved byte of an SGX report body.
func CheckSGXBodyReserved(body []byte) error {
	// The reserved ranges of the SGX report body, which must be zero.
	for _, r := range [...][2]int{{20, 32}, {96, 128}, {160, 192}, {262, 304}} {
		for i := r[0]; i < r[1]; i++ {
			if body[i] != 0 {
				return fmt.Errorf("%w: reserved byte %d of the report body is %#x", attest.ErrMalformed, i, body[i])
			}
		}
	}
	return nil
}
