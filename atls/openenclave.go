package atls

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/pem"
	"fmt"
)

// Open Enclave evidence with an embedded format ID, as
// oe_get_evidence(…, OE_EVIDENCE_FLAGS_EMBED_FORMAT_ID, …) makes it and
// oe_get_attestation_certificate_with_evidence_v2 puts it in the
// certificate extension 1.3.6.1.4.1.311.105.2 (openenclave
// common/attest_plugin.h, oe_attestation_header_t; enclave/sgx/attester.c).
const (
	oeHeaderVersion   = 3   // OE_ATTESTATION_HEADER_VERSION
	oeOffVersion      = 0   // uint32 version, little-endian
	oeOffFormat       = 4   // oe_uuid_t format_id, 16 bytes
	oeOffDataSize     = 24  // uint64 data_size, little-endian (after 4 bytes of C alignment padding)
	oeHeaderSize      = 32  // sizeof(oe_attestation_header_t)
	sgxQuoteSigLenOff = 432 // uint32 signature data length after the 48-byte header and 384-byte report body
	sgxQuoteMinSize   = 436
)

// oeFormatSGXECDSA is OE_FORMAT_UUID_SGX_ECDSA: SGX ECDSA (DCAP) evidence,
// the raw quote followed by the custom claims buffer, whose SHA-256 is the
// report data.
var oeFormatSGXECDSA = [16]byte{0xa3, 0xa2, 0x1e, 0x87, 0x1b, 0x4d, 0x40, 0x14, 0xb7, 0x0a, 0xa1, 0x25, 0xd2, 0xfb, 0xcd, 0x8c}

// OpenEnclaveEvidence is parsed Open Enclave SGX ECDSA evidence.
type OpenEnclaveEvidence struct {
	// Quote is the SGX quote (v3 or v4), without padding.
	Quote []byte
	// Claims is the custom claims buffer; in attested TLS certificates it
	// is the certificate's public key in PEM, followed by a NUL byte.
	Claims []byte
}

// ParseOpenEnclaveEvidence parses Open Enclave evidence with an embedded
// format ID (header version 3, format SGX ECDSA). It does no cryptography.
func ParseOpenEnclaveEvidence(b []byte) (*OpenEnclaveEvidence, error) {
	if len(b) > MaxEvidenceSize {
		return nil, malformed("Open Enclave evidence of %d bytes (at most %d)", len(b), MaxEvidenceSize)
	}
	if len(b) < oeHeaderSize {
		return nil, malformed("Open Enclave evidence of %d bytes; the header alone is %d", len(b), oeHeaderSize)
	}
	if v := binary.LittleEndian.Uint32(b[oeOffVersion:]); v != oeHeaderVersion {
		return nil, malformed("Open Enclave attestation header version %d; want %d", v, oeHeaderVersion)
	}
	if !bytes.Equal(b[oeOffFormat:oeOffFormat+16], oeFormatSGXECDSA[:]) {
		return nil, malformed("Open Enclave evidence format %x; want SGX ECDSA %x", b[oeOffFormat:oeOffFormat+16], oeFormatSGXECDSA)
	}
	data := b[oeHeaderSize:]
	if n := binary.LittleEndian.Uint64(b[oeOffDataSize:]); n != uint64(len(data)) {
		return nil, malformed("Open Enclave data size %d; %d bytes follow the header", n, len(data))
	}
	if len(data) < sgxQuoteMinSize {
		return nil, malformed("SGX quote of %d bytes (at least %d)", len(data), sgxQuoteMinSize)
	}
	qlen := uint64(sgxQuoteMinSize) + uint64(binary.LittleEndian.Uint32(data[sgxQuoteSigLenOff:]))
	if qlen > uint64(len(data)) {
		return nil, malformed("SGX quote of %d bytes in %d bytes of evidence", qlen, len(data))
	}
	return &OpenEnclaveEvidence{
		Quote:  bytes.Clone(data[:qlen]),
		Claims: bytes.Clone(data[qlen:]),
	}, nil
}

// marshalOpenEnclave encodes Open Enclave evidence over quote and claims.
func marshalOpenEnclave(quote, claims []byte) []byte {
	b := make([]byte, oeHeaderSize, oeHeaderSize+len(quote)+len(claims))
	binary.LittleEndian.PutUint32(b[oeOffVersion:], oeHeaderVersion)
	copy(b[oeOffFormat:], oeFormatSGXECDSA[:])
	binary.LittleEndian.PutUint64(b[oeOffDataSize:], uint64(len(quote)+len(claims)))
	return append(append(b, quote...), claims...)
}

// oeClaims is the custom claims buffer Open Enclave puts in attested TLS
// certificates: the public key in PEM, with the NUL terminator that
// oe_cert_write_public_key_pem counts.
func oeClaims(spki []byte) []byte {
	return append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0)
}

// checkKey checks that the claims buffer is the PEM of spki (with or
// without the NUL terminator, and nothing else).
func (e *OpenEnclaveEvidence) checkKey(spki []byte) error {
	rest := bytes.TrimSuffix(e.Claims, []byte{0})
	blk, rest := pem.Decode(rest)
	if blk == nil || blk.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return fmt.Errorf("%w: Open Enclave claims are not one PEM public key", ErrKeyBinding)
	}
	if subtle.ConstantTimeCompare(blk.Bytes, spki) != 1 {
		return fmt.Errorf("%w: Open Enclave claims name another public key", ErrKeyBinding)
	}
	return nil
}
