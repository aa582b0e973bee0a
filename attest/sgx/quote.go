package sgx

import (
	"encoding/binary"
	"fmt"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/internal/dcap"
)

// Attribute flags of the SGX report body (Intel SDM, SECS.ATTRIBUTES).
const (
	attrDebug = 0x02
)

// Quote is a parsed SGX quote. Nothing in it is verified.
type Quote struct {
	// Version is the quote version (3 or 4).
	Version uint16
	// QESVN and PCESVN are the quoting and provisioning enclaves' SVNs.
	QESVN, PCESVN uint16
	// QEVendorID identifies the quoting enclave's vendor.
	QEVendorID [16]byte
	// Report is the enclave's report body.
	Report ReportBody
	// Padding counts the zero bytes that followed the quote.
	Padding int

	q *dcap.Quote
}

// ReportBody is an SGX enclave report body.
type ReportBody struct {
	CPUSVN            [16]byte
	MiscSelect        uint32
	ExtendedProductID [16]byte
	Attributes        [16]byte
	MREnclave         [32]byte
	MRSigner          [32]byte
	ConfigID          [64]byte
	ProductID         uint16
	SecurityVersion   uint16
	ConfigSVN         uint16
	FamilyID          [16]byte
	ReportData        [64]byte
}

// Debug reports whether the enclave is debuggable (ATTRIBUTES.DEBUG).
func (r *ReportBody) Debug() bool { return r.Attributes[0]&attrDebug != 0 }

// ParseReportBody parses a 384-byte SGX report body, refusing non-zero
// reserved bytes. It is pure.
func ParseReportBody(b []byte) (*ReportBody, error) {
	if len(b) != dcap.SGXBodySize {
		return nil, fmt.Errorf("%w: SGX report body of %d bytes; want %d", attest.ErrMalformed, len(b), dcap.SGXBodySize)
	}
	if err := dcap.CheckSGXBodyReserved(b); err != nil {
		return nil, err
	}
	r := &ReportBody{
		MiscSelect:      binary.LittleEndian.Uint32(b[dcap.OffMiscSelect:]),
		ProductID:       binary.LittleEndian.Uint16(b[dcap.OffISVProdID:]),
		SecurityVersion: binary.LittleEndian.Uint16(b[dcap.OffISVSVN:]),
		ConfigSVN:       binary.LittleEndian.Uint16(b[dcap.OffConfigSVN:]),
	}
	copy(r.CPUSVN[:], b[dcap.OffCPUSVN:])
	copy(r.ExtendedProductID[:], b[dcap.OffISVExtProdID:])
	copy(r.Attributes[:], b[dcap.OffAttributes:])
	copy(r.MREnclave[:], b[dcap.OffMREnclave:])
	copy(r.MRSigner[:], b[dcap.OffMRSigner:])
	copy(r.ConfigID[:], b[dcap.OffConfigID:])
	copy(r.FamilyID[:], b[dcap.OffISVFamilyID:])
	copy(r.ReportData[:], b[dcap.OffReportData:])
	return r, nil
}

// ParseQuote parses an SGX DCAP quote, version 3 or 4. Zero bytes after
// the quote are accepted and counted in Padding; any other trailing byte,
// a truncated or oversized quote, an unsupported version or key type, or a
// TDX quote is ErrMalformed. It is pure.
func ParseQuote(b []byte) (*Quote, error) {
	q, err := dcap.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("sgx: %w", err)
	}
	if q.BodyType != dcap.BodySGX {
		return nil, fmt.Errorf("sgx: %w: a TDX quote (use attest/tdx)", attest.ErrMalformed)
	}
	body, err := ParseReportBody(q.Body)
	if err != nil {
		return nil, fmt.Errorf("sgx: %w", err)
	}
	if _, err := ParseReportBody(q.QEReport); err != nil {
		return nil, fmt.Errorf("sgx: QE report: %w", err)
	}
	return &Quote{Version: q.Version, QESVN: q.QESVN, PCESVN: q.PCESVN, QEVendorID: q.QEVendorID, Report: *body, Padding: q.Padding, q: q}, nil
}
