// Package verifier dispatches evidence to the verifier of its kind. It is
// what the attestation service (service.Verifier) and the demo use:
// "SgxEnclave" takes a DCAP quote, "OpenEnclave" Open Enclave evidence (a
// remote report, or SGX ECDSA evidence with custom claims; see
// ParseOpenEnclave), "TdxVm" a TDX quote.
package verifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/attest/tdx"
)

// Options configure a Verifier.
type Options struct {
	// SGX configures SGX quote verification. A zero Cache is replaced by
	// one shared with TDX.
	SGX sgx.Options
	// TDX configures TDX quote verification.
	TDX tdx.Options
}

// Verifier verifies evidence by kind. It is safe for concurrent use.
type Verifier struct {
	opts Options
}

// New returns a Verifier. Both sides share one cache of verified chains
// and collateral unless the options name their own.
func New(opts Options) *Verifier {
	c := opts.SGX.Cache
	if c == nil {
		c = opts.TDX.Cache
	}
	if c == nil {
		c = sgx.NewCache(0)
	}
	if opts.SGX.Cache == nil {
		opts.SGX.Cache = c
	}
	if opts.TDX.Cache == nil {
		opts.TDX.Cache = c
	}
	return &Verifier{opts: opts}
}

// WithSimulated returns options that trust the simulated root root and
// take its collateral from sim, besides Intel's root with collateral from
// intel (nil: no collateral for Intel-rooted evidence).
func WithSimulated(root *x509.Certificate, sim, intel attest.Getter) Options {
	g := SplitGetter{Simulated: sim, Intel: intel}
	return Options{
		SGX: sgx.Options{SimulatedRoots: []*x509.Certificate{root}, Getter: g},
		TDX: tdx.Options{Getter: intel},
	}
}

// SplitGetter sends requests for the simulated platform's FMSPC to
// Simulated and all others to Intel.
type SplitGetter struct {
	Simulated, Intel attest.Getter
	// SimulatedFMSPC is the simulated platform's FMSPC; nil means
	// C0F1DE000000, the one tee/sim uses.
	SimulatedFMSPC []byte
}

const simFMSPC = "\xC0\xF1\xDE\x00\x00\x00"

// Collateral implements attest.Getter.
func (g SplitGetter) Collateral(ctx context.Context, tee attest.TEE, fmspc []byte, ca string) (*attest.Collateral, error) {
	sf := string(g.SimulatedFMSPC)
	if g.SimulatedFMSPC == nil {
		sf = simFMSPC
	}
	target := g.Intel
	if string(fmspc) == string(sf) {
		target = g.Simulated
	}
	if target == nil {
		return nil, fmt.Errorf("%w: no collateral source for FMSPC %X", attest.ErrCollateralMissing, fmspc)
	}
	return target.Collateral(ctx, tee, fmspc, ca)
}

// Open Enclave evidence comes in two layouts, both little-endian:
//
//   - a remote report (oe_get_report with OE_REPORT_FLAGS_REMOTE_ATTESTATION,
//     what the MAA OpenEnclave API takes): oe_report_header_t — uint32
//     version 1, uint32 report type 2 (SGX remote), uint64 report size —
//     then the DCAP quote;
//   - SGX ECDSA evidence with an embedded format ID (oe_get_evidence with
//     OE_EVIDENCE_FLAGS_EMBED_FORMAT_ID, also the attested TLS certificate
//     extension): oe_attestation_header_t — uint32 version 3, the 16-byte
//     format UUID a3a21e87-1b4d-4014-b70a-a125d2fbcd8c, 4 bytes of
//     alignment, uint64 data size — then the DCAP quote followed by the
//     custom claims buffer, whose SHA-256 is the first half of the quote's
//     report data.
const (
	oeReportHeaderSize  = 16
	oeReportVersion     = 1
	oeReportSGXRemote   = 2
	oeEvidenceHeaderLen = 32
	oeEvidenceVersion   = 3
	// sgxQuoteFixed is the size of an SGX quote before its signature data:
	// the 48-byte header, the 384-byte report body and the uint32 length
	// of the signature data.
	sgxQuoteFixed = 436
)

// oeFormatSGXECDSA is OE_FORMAT_UUID_SGX_ECDSA in byte order.
const oeFormatSGXECDSA = "\xa3\xa2\x1e\x87\x1b\x4d\x40\x14\xb7\x0a\xa1\x25\xd2\xfb\xcd\x8c"

// OpenEnclaveEvidence is Open Enclave evidence split into its parts. It is
// not verified.
type OpenEnclaveEvidence struct {
	// Quote is the DCAP quote.
	Quote []byte
	// CustomClaims is the custom claims buffer of SGX ECDSA evidence (nil
	// for a remote report). Its SHA-256 must be the first 32 bytes of the
	// quote's report data.
	CustomClaims []byte
}

// ParseOpenEnclave splits Open Enclave evidence in either layout into
// copies of its parts. It does no cryptography.
func ParseOpenEnclave(b []byte) (*OpenEnclaveEvidence, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("verifier: %w: Open Enclave evidence of %d bytes", attest.ErrMalformed, len(b))
	}
	switch v := binary.LittleEndian.Uint32(b); v {
	case oeReportVersion:
		if len(b) < oeReportHeaderSize {
			return nil, fmt.Errorf("verifier: %w: Open Enclave report of %d bytes", attest.ErrMalformed, len(b))
		}
		if typ := binary.LittleEndian.Uint32(b[4:]); typ != oeReportSGXRemote {
			return nil, fmt.Errorf("verifier: %w: Open Enclave report type %d (want 2, SGX remote)", attest.ErrMalformed, typ)
		}
		if size := binary.LittleEndian.Uint64(b[8:]); size != uint64(len(b)-oeReportHeaderSize) {
			return nil, fmt.Errorf("verifier: %w: Open Enclave report size %d, %d bytes follow", attest.ErrMalformed, size, len(b)-oeReportHeaderSize)
		}
		return &OpenEnclaveEvidence{Quote: bytes.Clone(b[oeReportHeaderSize:])}, nil
	case oeEvidenceVersion:
		if len(b) < oeEvidenceHeaderLen {
			return nil, fmt.Errorf("verifier: %w: Open Enclave evidence of %d bytes", attest.ErrMalformed, len(b))
		}
		if f := b[4:20]; string(f) != oeFormatSGXECDSA {
			return nil, fmt.Errorf("verifier: %w: Open Enclave evidence format %x (want SGX ECDSA %x)", attest.ErrMalformed, f, oeFormatSGXECDSA)
		}
		data := b[oeEvidenceHeaderLen:]
		if size := binary.LittleEndian.Uint64(b[24:]); size != uint64(len(data)) {
			return nil, fmt.Errorf("verifier: %w: Open Enclave evidence size %d, %d bytes follow", attest.ErrMalformed, size, len(data))
		}
		if len(data) < sgxQuoteFixed {
			return nil, fmt.Errorf("verifier: %w: SGX quote of %d bytes in Open Enclave evidence", attest.ErrMalformed, len(data))
		}
		n := uint64(sgxQuoteFixed) + uint64(binary.LittleEndian.Uint32(data[sgxQuoteFixed-4:]))
		if n > uint64(len(data)) {
			return nil, fmt.Errorf("verifier: %w: SGX quote of %d bytes in %d bytes of Open Enclave evidence", attest.ErrMalformed, n, len(data))
		}
		return &OpenEnclaveEvidence{Quote: bytes.Clone(data[:n]), CustomClaims: append([]byte{}, data[n:]...)}, nil
	default:
		return nil, fmt.Errorf("verifier: %w: Open Enclave header version %d (want 1, a remote report, or 3, evidence)", attest.ErrMalformed, v)
	}
}

// Verify verifies evidence of the given kind and returns its claims. Kind
// names are those of the MAA API paths.
func (v *Verifier) Verify(ctx context.Context, kind string, evidence []byte) (*attest.Claims, error) {
	switch kind {
	case "SgxEnclave":
		return sgx.Verify(ctx, evidence, v.opts.SGX)
	case "OpenEnclave":
		oe, err := ParseOpenEnclave(evidence)
		if err != nil {
			return nil, err
		}
		c, err := sgx.Verify(ctx, oe.Quote, v.opts.SGX)
		if c == nil || oe.CustomClaims == nil {
			return c, err
		}
		// Claims come back with some errors (TCB level, missing
		// collateral); they too must be bound to the custom claims.
		if sum := sha256.Sum256(oe.CustomClaims); len(c.ReportData) < len(sum) || subtle.ConstantTimeCompare(sum[:], c.ReportData[:len(sum)]) != 1 {
			return nil, fmt.Errorf("verifier: %w: the Open Enclave custom claims are not the ones the quote's report data names", attest.ErrSignature)
		}
		return c, err
	case "TdxVm":
		return tdx.Verify(ctx, evidence, v.opts.TDX)
	}
	return nil, fmt.Errorf("verifier: %w: evidence kind %q (SgxEnclave, OpenEnclave or TdxVm)", attest.ErrMalformed, kind)
}

// OpenEnclaveQuote returns the DCAP quote inside Open Enclave evidence in
// either layout (see ParseOpenEnclave).
func OpenEnclaveQuote(report []byte) ([]byte, error) {
	e, err := ParseOpenEnclave(report)
	if err != nil {
		return nil, err
	}
	return e.Quote, nil
}

// OpenEnclaveReport wraps a DCAP quote as an Open Enclave remote report.
func OpenEnclaveReport(quote []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, oeReportVersion)
	b = binary.LittleEndian.AppendUint32(b, oeReportSGXRemote)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(quote)))
	return append(b, quote...)
}

// OpenEnclaveSGXEvidence wraps a DCAP quote and the custom claims buffer
// its report data names as Open Enclave SGX ECDSA evidence with an embedded
// format ID. The quote must not carry trailing padding.
func OpenEnclaveSGXEvidence(quote, customClaims []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, oeEvidenceVersion)
	b = append(b, oeFormatSGXECDSA...)
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(quote)+len(customClaims)))
	return append(append(b, quote...), customClaims...)
}
