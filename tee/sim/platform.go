package sim

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee"
)

// SGX attribute flags (Intel SDM Vol. 3D, 38.7.1 ATTRIBUTES).
const (
	AttrInit      = 0x01
	AttrDebug     = 0x02
	AttrMode64Bit = 0x04
	AttrKSS       = 0x80
)

// Offsets in the SGX REPORT body (Intel SDM Vol. 3D, 38.15 REPORT; the
// same layout as sgx_report_body_t in the Intel SGX SDK).
const (
	offCPUSVN     = 0
	offMiscSelect = 16
	offExtProdID  = 32
	offAttributes = 48
	offMREnclave  = 64
	offMRSigner   = 128
	offConfigID   = 192
	offISVProdID  = 256
	offISVSVN     = 258
	offConfigSVN  = 260
	offFamilyID   = 304
	offReportData = 320
	bodySize      = 384
	offKeyID      = 384
	offMAC        = 416
	macSize       = 16
)

// Offsets in TARGETINFO (Intel SDM Vol. 3D, 38.17 TARGETINFO).
const (
	tiMREnclave  = 0
	tiAttributes = 32
	tiConfigSVN  = 50
	tiMiscSelect = 52
	tiConfigID   = 64
	tiReserved3  = 128
)

// Options controls a Platform.
type Options struct {
	// Rand is the source of randomness for signatures and, on first use,
	// for the state; nil means crypto/rand.
	Rand io.Reader
	// Now returns the time used when the state is created on first use;
	// nil means time.Now.
	Now func() time.Time
	// XFRM is the enclave's XSAVE feature request mask; zero means 0x3
	// (x87 and SSE).
	XFRM uint64
	// MiscSelect is the enclave's MISCSELECT; zero is the usual value.
	MiscSelect uint32
}

// Platform is a simulated SGX platform as seen by one enclave. It
// implements tee.Platform and tee.ExactSealKeyer; it is safe for
// concurrent use and never touches the file system after Open.
type Platform struct {
	id         image.Identity
	secret     [32]byte
	cpusvn     [16]byte
	pcesvn     uint16
	qeid       [16]byte
	attributes [16]byte
	miscSelect uint32
	keyID      [32]byte
	attestKey  *ecdsa.PrivateKey
	pckKey     *ecdsa.PrivateKey
	certData   []byte
	rand       io.Reader
}

var (
	_ tee.Platform       = (*Platform)(nil)
	_ tee.ExactSealKeyer = (*Platform)(nil)
)

// Open loads (creating on first use) the simulated platform state in dir
// and returns the platform as seen by the enclave with identity id.
func Open(dir string, id image.Identity, opts Options) (*Platform, error) {
	st, err := InitWith(dir, StateOptions{Rand: opts.Rand, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	return st.Platform(id, opts)
}

// Platform returns the platform as seen by the enclave with identity id,
// from already loaded state.
func (s *State) Platform(id image.Identity, opts Options) (*Platform, error) {
	p := &Platform{id: id, pcesvn: s.p.PCESVN, miscSelect: opts.MiscSelect, rand: opts.Rand}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	copy(p.secret[:], s.p.Secret)
	copy(p.cpusvn[:], s.p.CPUSVN)
	copy(p.qeid[:], s.p.QEID)
	flags := byte(AttrInit | AttrMode64Bit)
	if id.Debug {
		flags |= AttrDebug
	}
	if id.ExtendedProductID != ([16]byte{}) || id.FamilyID != ([16]byte{}) {
		flags |= AttrKSS
	}
	p.attributes[0] = flags
	xfrm := opts.XFRM
	if xfrm == 0 {
		xfrm = 0x3
	}
	binary.LittleEndian.PutUint64(p.attributes[8:], xfrm)
	// KEYID of this "boot" of the platform: fixed per state, as it would
	// be per power cycle on hardware.
	k, err := p.derive("report keyid", nil, 32)
	if err != nil {
		return nil, err
	}
	copy(p.keyID[:], k)
	p.attestKey = s.attestKey
	p.pckKey = s.pckKey
	p.certData = pemChain(s.p.PCKCert, s.p.CACert, s.p.RootCert)
	return p, nil
}

// Info describes the platform: Name "sim", Simulated true.
func (p *Platform) Info() tee.Info {
	return tee.Info{Name: "sim", Simulated: true, CPUSVN: p.cpusvn}
}

// Identity returns the identity of the enclave this platform serves.
func (p *Platform) Identity() image.Identity { return p.id }

// derive runs HKDF-SHA-256 over the root secret with a labelled info.
func (p *Platform) derive(label string, context []byte, n int) ([]byte, error) {
	info := append([]byte("confide/sim v1 "+label+"\x00"), context...)
	k, err := hkdf.Key(sha256.New, p.secret[:], nil, string(info), n)
	if err != nil {
		return nil, fmt.Errorf("sim: derive key: %w", err)
	}
	return k, nil
}

// TargetInfo returns the enclave's own 512-byte TARGETINFO.
func (p *Platform) TargetInfo() ([]byte, error) {
	ti := make([]byte, tee.TargetInfoSize)
	copy(ti[tiMREnclave:], p.id.UniqueID[:])
	copy(ti[tiAttributes:], p.attributes[:])
	binary.LittleEndian.PutUint32(ti[tiMiscSelect:], p.miscSelect)
	return ti, nil
}

// body returns this enclave's REPORT body with reportData.
func (p *Platform) body(reportData [tee.ReportDataSize]byte) []byte {
	b := make([]byte, bodySize)
	copy(b[offCPUSVN:], p.cpusvn[:])
	binary.LittleEndian.PutUint32(b[offMiscSelect:], p.miscSelect)
	copy(b[offExtProdID:], p.id.ExtendedProductID[:])
	copy(b[offAttributes:], p.attributes[:])
	copy(b[offMREnclave:], p.id.UniqueID[:])
	copy(b[offMRSigner:], p.id.SignerID[:])
	binary.LittleEndian.PutUint16(b[offISVProdID:], p.id.ProductID)
	binary.LittleEndian.PutUint16(b[offISVSVN:], p.id.SecurityVersion)
	copy(b[offFamilyID:], p.id.FamilyID[:])
	copy(b[offReportData:], reportData[:])
	return b
}

// reportKey derives the report key of the enclave described by a
// TARGETINFO's fields, for a KEYID.
func (p *Platform) reportKey(keyID, mrenclave, attributes, misc, configSVN, configID []byte) ([]byte, error) {
	var ctx []byte
	for _, f := range [][]byte{keyID, mrenclave, attributes, misc, configSVN, configID} {
		ctx = append(ctx, f...)
	}
	return p.derive("report key", ctx, 32)
}

func mac(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)[:macSize]
}

// Report returns a 432-byte REPORT of the calling enclave for the enclave
// described by target (a 512-byte TARGETINFO), MACed with the target's
// report key (HMAC-SHA-256 truncated to 16 bytes).
func (p *Platform) Report(target []byte, reportData [tee.ReportDataSize]byte) ([]byte, error) {
	if len(target) != tee.TargetInfoSize {
		return nil, fmt.Errorf("%w: targetinfo is %d bytes, want %d", ErrMalformed, len(target), tee.TargetInfoSize)
	}
	if !allZero(target[48:50]) || !allZero(target[56:64]) || !allZero(target[tiReserved3:]) {
		return nil, fmt.Errorf("%w: targetinfo reserved bytes are not zero", ErrMalformed)
	}
	key, err := p.reportKey(p.keyID[:], target[tiMREnclave:tiMREnclave+32], target[tiAttributes:tiAttributes+16],
		target[tiMiscSelect:tiMiscSelect+4], target[tiConfigSVN:tiConfigSVN+2], target[tiConfigID:tiConfigID+64])
	if err != nil {
		return nil, err
	}
	defer clear(key)
	r := make([]byte, tee.ReportSize)
	copy(r, p.body(reportData))
	copy(r[offKeyID:], p.keyID[:])
	copy(r[offMAC:], mac(key, r[:bodySize]))
	return r, nil
}

// VerifyReport checks that report was made on this platform for this
// enclave's TARGETINFO. It returns an error wrapping tee.ErrInvalidReport
// otherwise.
func (p *Platform) VerifyReport(report []byte) error {
	if len(report) != tee.ReportSize {
		return fmt.Errorf("%w: report is %d bytes, want %d", tee.ErrInvalidReport, len(report), tee.ReportSize)
	}
	ti, _ := p.TargetInfo()
	key, err := p.reportKey(report[offKeyID:offKeyID+32], ti[tiMREnclave:tiMREnclave+32], ti[tiAttributes:tiAttributes+16],
		ti[tiMiscSelect:tiMiscSelect+4], ti[tiConfigSVN:tiConfigSVN+2], ti[tiConfigID:tiConfigID+64])
	if err != nil {
		return err
	}
	defer clear(key)
	if subtle.ConstantTimeCompare(mac(key, report[:bodySize]), report[offMAC:offMAC+macSize]) != 1 {
		return tee.ErrInvalidReport
	}
	return nil
}

// SealKey derives a 16-byte seal key with EGETKEY semantics: the key is
// bound to the policy's identity (MRENCLAVE, or MRSIGNER and ISVPRODID),
// the security version and CPUSVN (neither above the enclave's and the
// platform's; zero means current), the KEYID, the DEBUG attribute and the
// platform's root secret.
func (p *Platform) SealKey(req tee.KeyRequest) ([]byte, error) {
	if req.SecurityVersion == 0 {
		req.SecurityVersion = p.id.SecurityVersion
	}
	return p.SealKeyExact(req)
}

// SealKeyExact is SealKey with req.SecurityVersion taken literally, zero
// included (tee.ExactSealKeyer).
func (p *Platform) SealKeyExact(req tee.KeyRequest) ([]byte, error) {
	if req.Policy == 0 || req.Policy&^(tee.ByUniqueID|tee.BySigner) != 0 {
		return nil, fmt.Errorf("%w: key policy %#x", tee.ErrKeyRequest, uint16(req.Policy))
	}
	if req.SecurityVersion > p.id.SecurityVersion {
		return nil, fmt.Errorf("%w: security version %d above the enclave's %d", tee.ErrKeyRequest, req.SecurityVersion, p.id.SecurityVersion)
	}
	cpusvn := req.CPUSVN
	if cpusvn == ([16]byte{}) {
		cpusvn = p.cpusvn
	}
	for i := range cpusvn {
		if cpusvn[i] > p.cpusvn[i] {
			return nil, fmt.Errorf("%w: cpusvn %x above the platform's %x", tee.ErrKeyRequest, cpusvn, p.cpusvn)
		}
	}
	ctx := make([]byte, 0, 2+32+32+2+2+16+32+1+4)
	ctx = binary.LittleEndian.AppendUint16(ctx, uint16(req.Policy))
	var zero [32]byte
	if req.Policy&tee.ByUniqueID != 0 {
		ctx = append(ctx, p.id.UniqueID[:]...)
	} else {
		ctx = append(ctx, zero[:]...)
	}
	if req.Policy&tee.BySigner != 0 {
		ctx = append(ctx, p.id.SignerID[:]...)
		ctx = binary.LittleEndian.AppendUint16(ctx, p.id.ProductID)
	} else {
		ctx = append(ctx, zero[:]...)
		ctx = binary.LittleEndian.AppendUint16(ctx, 0)
	}
	ctx = binary.LittleEndian.AppendUint16(ctx, req.SecurityVersion)
	ctx = append(ctx, cpusvn[:]...)
	ctx = append(ctx, req.KeyID[:]...)
	// ATTRIBUTEMASK as the SDK's default: INIT and DEBUG are bound.
	ctx = append(ctx, p.attributes[0]&(AttrInit|AttrDebug))
	ctx = binary.LittleEndian.AppendUint32(ctx, p.miscSelect)
	return p.derive("seal key", ctx, 16)
}

func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
