package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/confide-dev/confide/tee"
)

// Intel DCAP ECDSA quote v3 layout (Intel SGX ECDSA Quote Library API,
// appendix A.4 "Quote Format").
const (
	quoteVersion       = 3
	attKeyTypeECDSA256 = 2 // ECDSA-256-with-P-256 curve
	headerSize         = 48
	// QE authentication data size and certification data type 5 (PCK
	// certificate chain, PEM: leaf ‖ intermediate ‖ root).
	qeAuthDataSize = 32
	certDataPCKPEM = 5
)

// qeVendorIntel is the QE vendor ID Intel's quoting enclave puts in quote
// headers: 939A7233-F79C-4CA9-940A-0DB3957F0607.
var qeVendorIntel = [16]byte{0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07}

// Quote returns an Intel DCAP ECDSA-256 quote (version 3) of the calling
// enclave binding reportData, signed by the simulated quoting enclave's
// attestation key, whose QE report is signed by the simulated PCK key and
// whose certification data is the simulated PCK chain (type 5, PEM).
func (p *Platform) Quote(reportData [tee.ReportDataSize]byte) ([]byte, error) {
	q := make([]byte, 0, 4096)
	// Header.
	q = binary.LittleEndian.AppendUint16(q, quoteVersion)
	q = binary.LittleEndian.AppendUint16(q, attKeyTypeECDSA256)
	q = binary.LittleEndian.AppendUint32(q, 0) // TEE type 0 = SGX (reserved in v3)
	q = binary.LittleEndian.AppendUint16(q, qeSVN)
	q = binary.LittleEndian.AppendUint16(q, p.pcesvn)
	q = append(q, qeVendorIntel[:]...)
	var userData [20]byte
	copy(userData[:], p.qeid[:]) // the QE puts its QE ID first
	q = append(q, userData[:]...)
	// ISV enclave report body.
	q = append(q, p.body(reportData)...)

	isvSig, err := signRaw(p.rand, p.attestKey, q[:headerSize+bodySize])
	if err != nil {
		return nil, err
	}
	attPub, err := p.attestKey.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("sim: attestation key: %w", err)
	}
	attKey := attPub.Bytes()[1:] // x ‖ y, without the 0x04 prefix
	authData := make([]byte, qeAuthDataSize)
	for i := range authData {
		authData[i] = byte(i)
	}
	qeBody := p.qeReportBody(attKey, authData)
	qeSig, err := signRaw(p.rand, p.pckKey, qeBody)
	if err != nil {
		return nil, err
	}

	var sd []byte
	sd = append(sd, isvSig...)
	sd = append(sd, attKey...)
	sd = append(sd, qeBody...)
	sd = append(sd, qeSig...)
	sd = binary.LittleEndian.AppendUint16(sd, uint16(len(authData)))
	sd = append(sd, authData...)
	sd = binary.LittleEndian.AppendUint16(sd, certDataPCKPEM)
	sd = binary.LittleEndian.AppendUint32(sd, uint32(len(p.certData)))
	sd = append(sd, p.certData...)

	q = binary.LittleEndian.AppendUint32(q, uint32(len(sd)))
	return append(q, sd...), nil
}

// qeReportBody is the simulated QE's REPORT body: report data =
// SHA-256(attestation key ‖ QE authentication data) ‖ 32 zero bytes.
func (p *Platform) qeReportBody(attKey, authData []byte) []byte {
	b := make([]byte, bodySize)
	copy(b[offCPUSVN:], p.cpusvn[:])
	b[offAttributes] = qeAttributesFlags | AttrMode64Bit
	binary.LittleEndian.PutUint64(b[offAttributes+8:], 0xe7)
	copy(b[offMREnclave:], qeMREnclave[:])
	copy(b[offMRSigner:], qeMRSigner[:])
	binary.LittleEndian.PutUint16(b[offISVProdID:], qeProductID)
	binary.LittleEndian.PutUint16(b[offISVSVN:], qeSVN)
	h := sha256.New()
	h.Write(attKey)
	h.Write(authData)
	copy(b[offReportData:], h.Sum(nil))
	return b
}
