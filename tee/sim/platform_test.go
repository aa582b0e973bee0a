package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/vectors"
	"github.com/confide-dev/confide/tee"
)

func ident(unique, signer byte, prod, svn uint16) image.Identity {
	var id image.Identity
	id.UniqueID[0] = unique
	id.SignerID[0] = signer
	id.ProductID = prod
	id.SecurityVersion = svn
	return id
}

func open(t *testing.T, dir string, id image.Identity) *Platform {
	t.Helper()
	p, err := Open(dir, id, Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return p
}

func TestInfo(t *testing.T) {
	s := newState(t)
	p := open(t, s.Dir(), ident(1, 1, 0, 0))
	if got := p.Info(); got.Name != "sim" || !got.Simulated || got.CPUSVN != s.CPUSVN() {
		t.Errorf("Info() = %+v; want sim, simulated, CPUSVN %x", got, s.CPUSVN())
	}
}

func TestLocalAttestation(t *testing.T) {
	dir := newState(t).Dir()
	other := newState(t).Dir()
	a := open(t, dir, ident(0xA, 1, 0, 0))
	b := open(t, dir, ident(0xB, 1, 0, 0))
	c := open(t, dir, ident(0xC, 1, 0, 0))
	bElsewhere := open(t, other, ident(0xB, 1, 0, 0))
	tiA, err := a.TargetInfo()
	if err != nil {
		t.Fatal(err)
	}
	tiC, _ := c.TargetInfo()
	rd := [64]byte{1, 2, 3}
	mk := func(p *Platform, ti []byte) []byte {
		r, err := p.Report(ti, rd)
		if err != nil {
			t.Fatalf("Report = %v", err)
		}
		return r
	}
	good := mk(b, tiA)
	tampered := bytes.Clone(good)
	tampered[offReportData] ^= 1
	badMAC := bytes.Clone(good)
	badMAC[offMAC] ^= 1
	for _, tc := range []struct {
		name   string
		report []byte
		ok     bool
	}{
		{"for-a", good, true},
		{"for-c", mk(b, tiC), false},
		{"other-platform", mk(bElsewhere, tiA), false},
		{"tampered-body", tampered, false},
		{"tampered-mac", badMAC, false},
		{"short", good[:431], false},
		{"long", append(bytes.Clone(good), 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.VerifyReport(tc.report)
			if tc.ok && err != nil {
				t.Errorf("VerifyReport = %v; want nil", err)
			}
			if !tc.ok && !errors.Is(err, tee.ErrInvalidReport) {
				t.Errorf("VerifyReport = %v; want ErrInvalidReport", err)
			}
		})
	}
	t.Run("body", func(t *testing.T) {
		if len(good) != tee.ReportSize {
			t.Fatalf("len(report) = %d; want %d", len(good), tee.ReportSize)
		}
		if !bytes.Equal(good[offMREnclave:offMREnclave+32], b.id.UniqueID[:]) || !bytes.Equal(good[offReportData:offReportData+64], rd[:]) {
			t.Errorf("report body does not carry B's MRENCLAVE and the report data")
		}
	})
	t.Run("bad-target", func(t *testing.T) {
		for _, ti := range [][]byte{tiA[:511], append(bytes.Clone(tiA), 0), func() []byte { x := bytes.Clone(tiA); x[200] = 1; return x }()} {
			if _, err := b.Report(ti, rd); !errors.Is(err, ErrMalformed) {
				t.Errorf("Report(bad target len %d) = %v; want ErrMalformed", len(ti), err)
			}
		}
	})
}

func TestSealKey(t *testing.T) {
	dir := newState(t).Dir()
	base := ident(1, 1, 7, 3)
	p := open(t, dir, base)
	key := func(p *Platform, req tee.KeyRequest) []byte {
		t.Helper()
		k, err := p.SealKey(req)
		if err != nil {
			t.Fatalf("SealKey(%+v) = %v", req, err)
		}
		if len(k) != 16 {
			t.Fatalf("len(SealKey) = %d; want 16", len(k))
		}
		return k
	}
	byU := tee.KeyRequest{Policy: tee.ByUniqueID}
	byS := tee.KeyRequest{Policy: tee.BySigner}
	k0 := key(p, byU)
	s0 := key(p, byS)
	withID := func(mut func(*image.Identity)) *Platform {
		id := base
		mut(&id)
		return open(t, dir, id)
	}
	dbg := withID(func(id *image.Identity) { id.Debug = true })
	otherUnique := withID(func(id *image.Identity) { id.UniqueID[1] = 9 })
	otherProd := withID(func(id *image.Identity) { id.ProductID = 8 })
	otherSigner := withID(func(id *image.Identity) { id.SignerID[1] = 9 })
	newer := withID(func(id *image.Identity) { id.SecurityVersion = 4 })
	elsewhere := open(t, newState(t).Dir(), base)
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
		same bool
	}{
		{"deterministic", key(open(t, dir, base), byU), k0, true},
		{"policies-differ", s0, k0, false},
		{"unique-other-enclave", key(otherUnique, byU), k0, false},
		{"signer-other-enclave-same-signer", key(otherUnique, byS), s0, true},
		{"signer-other-product", key(otherProd, byS), s0, false},
		{"signer-other-signer", key(otherSigner, byS), s0, false},
		{"debug-differs", key(dbg, byU), k0, false},
		{"other-platform", key(elsewhere, byU), k0, false},
		{"keyid-diversifies", key(p, tee.KeyRequest{Policy: tee.ByUniqueID, KeyID: [32]byte{1}}), k0, false},
		{"zero-svn-is-own", key(p, tee.KeyRequest{Policy: tee.BySigner, SecurityVersion: 3}), s0, true},
		{"newer-derives-older", key(newer, tee.KeyRequest{Policy: tee.BySigner, SecurityVersion: 3}), s0, true},
		{"newer-own-differs", key(newer, byS), s0, false},
		{"lower-cpusvn-differs", key(p, tee.KeyRequest{Policy: tee.BySigner, CPUSVN: [16]byte{1}}), s0, false},
		{"current-cpusvn-explicit", key(p, tee.KeyRequest{Policy: tee.BySigner, CPUSVN: p.cpusvn}), s0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(tc.got, tc.want) != tc.same {
				t.Errorf("key equality = %v; want %v", !tc.same, tc.same)
			}
		})
	}
	t.Run("exact-zero", func(t *testing.T) {
		old := open(t, dir, ident(1, 1, 7, 0))
		want := key(old, byS)
		got, err := newer.SealKeyExact(tee.KeyRequest{Policy: tee.BySigner})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("SealKeyExact(svn 0) = %x, %v; want the svn-0 enclave's key %x", got, err, want)
		}
	})
	hi := p.cpusvn
	hi[3]++
	for _, tc := range []struct {
		name string
		req  tee.KeyRequest
	}{
		{"svn-above-own", tee.KeyRequest{Policy: tee.ByUniqueID, SecurityVersion: 4}},
		{"cpusvn-above-platform", tee.KeyRequest{Policy: tee.ByUniqueID, CPUSVN: hi}},
		{"no-policy", tee.KeyRequest{}},
		{"unknown-policy-bit", tee.KeyRequest{Policy: 0x8001}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.SealKey(tc.req); !errors.Is(err, tee.ErrKeyRequest) {
				t.Errorf("SealKey(%+v) = %v; want ErrKeyRequest", tc.req, err)
			}
		})
	}
}

func TestPlatformNeedsNoFilesAfterOpen(t *testing.T) {
	s := newState(t)
	p := open(t, s.Dir(), ident(1, 1, 0, 0))
	if err := os.RemoveAll(s.Dir()); err != nil {
		t.Fatal(err)
	}
	ti, _ := p.TargetInfo()
	r, err := p.Report(ti, [64]byte{})
	if err != nil {
		t.Fatalf("Report after removing state = %v", err)
	}
	if err := p.VerifyReport(r); err != nil {
		t.Errorf("VerifyReport after removing state = %v", err)
	}
	if _, err := p.SealKey(tee.KeyRequest{Policy: tee.ByUniqueID}); err != nil {
		t.Errorf("SealKey after removing state = %v", err)
	}
	if _, err := p.Quote([64]byte{}); err != nil {
		t.Errorf("Quote after removing state = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), StateFile)); !os.IsNotExist(err) {
		t.Errorf("platform re-created its state: %v", err)
	}
}

// testQuote is the test's own reader of DCAP quote v3 (Intel SGX ECDSA
// Quote Library API, A.4), independent of the code that writes quotes.
type testQuote struct {
	version, keyType uint16
	teeType          uint32
	qeSVN, pceSVN    uint16
	vendor           []byte
	userData         []byte
	body             []byte
	signed           []byte
	isvSig, attKey   []byte
	qeBody, qeSig    []byte
	authData         []byte
	certType         uint16
	certData         []byte
}

func readQuote(t testing.TB, q []byte) (*testQuote, error) {
	var x testQuote
	if len(q) < 436 {
		return nil, errors.New("short")
	}
	x.version = binary.LittleEndian.Uint16(q[0:])
	x.keyType = binary.LittleEndian.Uint16(q[2:])
	x.teeType = binary.LittleEndian.Uint32(q[4:])
	x.qeSVN = binary.LittleEndian.Uint16(q[8:])
	x.pceSVN = binary.LittleEndian.Uint16(q[10:])
	x.vendor = q[12:28]
	x.userData = q[28:48]
	x.body = q[48:432]
	x.signed = q[:432]
	n := int(binary.LittleEndian.Uint32(q[432:]))
	sd := q[436:]
	if len(sd) != n || n < 64+64+384+64+2 {
		return nil, errors.New("signature data length")
	}
	x.isvSig, x.attKey, x.qeBody, x.qeSig = sd[0:64], sd[64:128], sd[128:512], sd[512:576]
	sd = sd[576:]
	an := int(binary.LittleEndian.Uint16(sd))
	if len(sd) < 2+an+6 {
		return nil, errors.New("auth data length")
	}
	x.authData = sd[2 : 2+an]
	sd = sd[2+an:]
	x.certType = binary.LittleEndian.Uint16(sd)
	cn := int(binary.LittleEndian.Uint32(sd[2:]))
	if len(sd) != 6+cn {
		return nil, errors.New("cert data length")
	}
	x.certData = sd[6:]
	return &x, nil
}

func TestQuote(t *testing.T) {
	s := newState(t)
	id := ident(0x33, 0x81, 5, 2)
	id.Debug = true
	p := open(t, s.Dir(), id)
	rd := [64]byte{'H', 'e', 'l', 'l', 'o'}
	q, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	x, err := readQuote(t, q)
	if err != nil {
		t.Fatalf("readQuote = %v", err)
	}
	intelVendor := []byte{0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07}
	if x.version != 3 || x.keyType != 2 || x.teeType != 0 || !bytes.Equal(x.vendor, intelVendor) || x.pceSVN != s.PCESVN() || x.certType != 5 {
		t.Errorf("header = v%d key %d tee %d vendor %x pcesvn %d cert type %d; want 3 2 0 %x %d 5", x.version, x.keyType, x.teeType, x.vendor, x.pceSVN, x.certType, intelVendor, s.PCESVN())
	}
	cpusvn := s.CPUSVN()
	for _, tc := range []struct {
		name      string
		got, want []byte
	}{
		{"cpusvn", x.body[0:16], cpusvn[:]},
		{"mrenclave", x.body[64:96], id.UniqueID[:]},
		{"mrsigner", x.body[128:160], id.SignerID[:]},
		{"isvprodid", x.body[256:258], []byte{5, 0}},
		{"isvsvn", x.body[258:260], []byte{2, 0}},
		{"reportdata", x.body[320:384], rd[:]},
		{"debug-attribute", []byte{x.body[48] & 2}, []byte{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got, tc.want) {
				t.Errorf("%s = %x; want %x", tc.name, tc.got, tc.want)
			}
		})
	}
	chain := parseChain(t, x.certData)
	if len(chain) != 3 || !chain[0].Equal(s.PCKCertificate()) || !chain[2].Equal(s.RootCertificate()) {
		t.Fatalf("certification data is not PCK ‖ processor CA ‖ root")
	}
	att := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x.attKey[:32]), Y: new(big.Int).SetBytes(x.attKey[32:])}
	t.Run("isv-signature", func(t *testing.T) {
		if !verifyRaw(att, x.signed, x.isvSig) {
			t.Error("ISV report signature does not verify with the attestation key")
		}
	})
	t.Run("qe-report-signature", func(t *testing.T) {
		if !verifyRaw(chain[0].PublicKey.(*ecdsa.PublicKey), x.qeBody, x.qeSig) {
			t.Error("QE report signature does not verify with the PCK key")
		}
	})
	t.Run("qe-report-data", func(t *testing.T) {
		h := sha256.Sum256(append(bytes.Clone(x.attKey), x.authData...))
		want := append(h[:], make([]byte, 32)...)
		if !bytes.Equal(x.qeBody[320:384], want) {
			t.Errorf("QE report data = %x; want SHA-256(attkey‖auth)‖0", x.qeBody[320:384])
		}
	})
	t.Run("qe-identity", func(t *testing.T) {
		if !bytes.Equal(x.qeBody[128:160], qeMRSigner[:]) || binary.LittleEndian.Uint16(x.qeBody[258:]) != x.qeSVN {
			t.Error("QE report body does not carry the QE identity's MRSIGNER and the header's QE SVN")
		}
	})
	t.Run("qe-identity-collateral", func(t *testing.T) {
		// Match the QE report against the QE identity as a verifier does:
		// masked MISCSELECT and ATTRIBUTES, MRSIGNER, ISVPRODID, and the
		// first TCB level whose ISVSVN is <= the QE's.
		var v struct {
			EI struct {
				MiscSelect     string `json:"miscselect"`
				MiscSelectMask string `json:"miscselectMask"`
				Attributes     string `json:"attributes"`
				AttributesMask string `json:"attributesMask"`
				MRSigner       string `json:"mrsigner"`
				ISVProdID      uint16 `json:"isvprodid"`
				TCBLevels      []struct {
					TCB struct {
						ISVSVN uint16 `json:"isvsvn"`
					} `json:"tcb"`
					Status string `json:"tcbStatus"`
				} `json:"tcbLevels"`
			} `json:"enclaveIdentity"`
		}
		if err := json.Unmarshal(s.Collateral().QEIdentity, &v); err != nil {
			t.Fatal(err)
		}
		h := func(x string) []byte { b, _ := hex.DecodeString(x); return b }
		masked := func(b, m []byte) []byte {
			out := make([]byte, len(b))
			for i := range b {
				out[i] = b[i] & m[i]
			}
			return out
		}
		misc := x.qeBody[16:20]
		if !bytes.Equal(masked(misc, h(v.EI.MiscSelectMask)), masked(h(v.EI.MiscSelect), h(v.EI.MiscSelectMask))) {
			t.Errorf("QE MISCSELECT %x does not match the QE identity", misc)
		}
		attr := x.qeBody[48:64]
		if !bytes.Equal(masked(attr, h(v.EI.AttributesMask)), masked(h(v.EI.Attributes), h(v.EI.AttributesMask))) {
			t.Errorf("QE ATTRIBUTES %x do not match the QE identity %s/%s", attr, v.EI.Attributes, v.EI.AttributesMask)
		}
		if !bytes.Equal(x.qeBody[128:160], h(v.EI.MRSigner)) || binary.LittleEndian.Uint16(x.qeBody[256:]) != v.EI.ISVProdID {
			t.Errorf("QE MRSIGNER/ISVPRODID do not match the QE identity")
		}
		svn := binary.LittleEndian.Uint16(x.qeBody[258:])
		status := ""
		for _, l := range v.EI.TCBLevels {
			if l.TCB.ISVSVN <= svn {
				status = l.Status
				break
			}
		}
		if status != "UpToDate" {
			t.Errorf("QE TCB status = %q; want UpToDate", status)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		bad := bytes.Clone(q)
		bad[48+320] ^= 1
		y, _ := readQuote(t, bad)
		if verifyRaw(att, y.signed, y.isvSig) {
			t.Error("signature verifies over a tampered body")
		}
	})
	t.Run("real-reader-agrees", func(t *testing.T) {
		// The test reader reads the real Intel quote too, so it is not
		// shaped after the sim's writer only.
		real := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
		y, err := readQuote(t, real)
		if err != nil {
			t.Fatalf("readQuote(real) = %v", err)
		}
		if !bytes.Equal(y.vendor, intelVendor) || y.certType != 5 || y.version != 3 {
			t.Errorf("real quote header = v%d vendor %x cert %d", y.version, y.vendor, y.certType)
		}
		h := sha256.Sum256(append(bytes.Clone(y.attKey), y.authData...))
		if !bytes.Equal(y.qeBody[320:352], h[:]) {
			t.Error("real quote's QE report data is not SHA-256(attkey‖auth): reader misaligned")
		}
	})
}

func FuzzVerifyReport(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "sim")
	a, err := Open(dir, ident(1, 1, 0, 0), Options{})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := Open(dir, ident(2, 1, 0, 0), Options{})
	ti, _ := a.TargetInfo()
	r, _ := b.Report(ti, [64]byte{9})
	f.Add(r)
	f.Add(r[:100])
	f.Fuzz(func(t *testing.T, report []byte) {
		err := a.VerifyReport(report)
		if err == nil && !bytes.Equal(report[:bodySize], r[:bodySize]) {
			t.Errorf("VerifyReport accepted a report with a different body")
		}
	})
}

func FuzzReport(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "sim")
	a, err := Open(dir, ident(1, 1, 0, 0), Options{})
	if err != nil {
		f.Fatal(err)
	}
	ti, _ := a.TargetInfo()
	f.Add(ti)
	f.Add(ti[:64])
	f.Fuzz(func(t *testing.T, target []byte) {
		r, err := a.Report(target, [64]byte{})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Report = %v; want ErrMalformed", err)
			}
			return
		}
		if len(r) != tee.ReportSize {
			t.Errorf("len(Report) = %d", len(r))
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	s := newState(t)
	p := open(t, s.Dir(), ident(1, 1, 0, 0))
	ti, _ := p.TargetInfo()
	want, _ := p.SealKey(tee.KeyRequest{Policy: tee.ByUniqueID})
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			rd := [64]byte{byte(i)}
			r, err := p.Report(ti, rd)
			if err == nil {
				err = p.VerifyReport(r)
			}
			if err == nil {
				_, err = p.Quote(rd)
			}
			if err == nil {
				var k []byte
				k, err = p.SealKey(tee.KeyRequest{Policy: tee.ByUniqueID})
				if err == nil && !bytes.Equal(k, want) {
					err = errors.New("seal key changed under concurrency")
				}
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
