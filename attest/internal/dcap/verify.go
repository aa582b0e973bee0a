package dcap

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/confide-dev/confide/attest"
)

// Options configure Verify.
type Options struct {
	// Now is the verification time.
	Now time.Time
	// Roots are the trusted roots (Intel's SGX Root CA by default, set by
	// the caller).
	Roots []*x509.Certificate
	// Simulated are roots whose evidence is marked simulated.
	Simulated []*x509.Certificate
	// Getter fetches collateral; nil means none is available.
	Getter attest.Getter
	// Cache keeps verified chains and collateral; nil means no cache.
	Cache *Cache
}

// TDXMatch carries what TDX adds to TCB level matching.
type TDXMatch struct {
	TEETCBSVN      [16]byte
	MRSignerSeam   []byte
	SeamAttributes []byte
	// TEETCBSVN2 is set for TD report 1.5 bodies: the TEE TCB SVN of the
	// TDX module running now, which differs from TEETCBSVN (the module the
	// TD was launched under) after a TD-preserving module update.
	TEETCBSVN2 *[16]byte
}

// Result is what Verify establishes beyond the report body itself.
type Result struct {
	TCBStatus         attest.TCBStatus
	AdvisoryIDs       []string
	TCBDate           time.Time
	QEStatus          attest.TCBStatus
	CollateralExpiry  time.Time
	RevocationChecked bool
	FMSPC             []byte
	Simulated         bool
	ModuleID          string
	ModuleStatus      attest.TCBStatus
}

// verified is the time-independent outcome of checking a PCK chain and
// its collateral, valid for verification times in [from, until].
type verified struct {
	leaf   *ecdsa.PublicKey
	anchor *x509.Certificate
	// path is the verified PCK chain: leaf, CAs, anchor.
	path       []*x509.Certificate
	pck        *PCKInfo
	simulated  bool
	tcb        *TCBInfo
	qe         *QEIdentity
	revocation bool
	expiry     time.Time
	from       time.Time
	until      time.Time
}

// Verify checks q: the PCK chain to a trusted root, the QE report
// signature and its binding to the attestation key, the quote signature,
// and, with collateral, the TCB info and QE identity (signatures, chains,
// validity), the CRLs and the TCB level. tee selects the TCB info and QE
// identity kind; tdx is required for TDX quotes. On ErrCollateralMissing
// and ErrTCBLevel the result is returned too.
func Verify(ctx context.Context, q *Quote, tee attest.TEE, tdx *TDXMatch, opts Options) (*Result, error) {
	if q.CertType != CertPCKChain {
		return nil, fmt.Errorf("%w: certification data type %d (only 5, a PCK certificate chain, is supported)", attest.ErrMalformed, q.CertType)
	}
	pc, err := opts.Cache.parsedChain(q.CertData)
	if err != nil {
		return nil, err
	}
	chain := pc.chain
	var coll *attest.Collateral
	var collErr error
	if opts.Getter == nil {
		collErr = fmt.Errorf("%w: no collateral source", attest.ErrCollateralMissing)
	} else {
		// The FMSPC comes from the certificate, which is checked below;
		// fetching with an unchecked value only risks a useless fetch.
		coll, collErr = opts.Getter.Collateral(ctx, tee, pc.pck.FMSPC[:], pc.caType)
		if collErr != nil && !errors.Is(collErr, attest.ErrCollateral) {
			collErr = fmt.Errorf("%w: %w", attest.ErrCollateralMissing, collErr)
		}
	}

	var v *verified
	var key [32]byte
	if opts.Cache != nil && coll != nil {
		key = cacheKey(q.CertData, coll, opts.Roots, opts.Simulated)
		v = opts.Cache.get(key, opts.Now)
	}
	if v == nil {
		v, err = verifyChain(chain, opts)
		if err != nil {
			return nil, err
		}
		if coll != nil {
			if err := verifyCollateral(v, chain, coll, tee, opts.Now); err != nil {
				return nil, err
			}
			if opts.Cache != nil {
				opts.Cache.put(key, v)
			}
		}
	}

	// Per quote: the QE report, its binding and the quote signature.
	if !verifyRaw(v.leaf, q.QEReport, q.QEReportSig[:]) {
		return nil, fmt.Errorf("%w: QE report signature (PCK key)", attest.ErrSignature)
	}
	h := sha256.New()
	h.Write(q.AttKey[:])
	h.Write(q.QEAuthData)
	rd := q.QEReport[OffReportData:]
	if subtle.ConstantTimeCompare(h.Sum(nil), rd[:32]) != 1 || !allZero(rd[32:]) {
		return nil, fmt.Errorf("%w: QE report data does not bind the attestation key", attest.ErrSignature)
	}
	att, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.AttKey[:]...))
	if err != nil {
		return nil, fmt.Errorf("%w: attestation key: %v", attest.ErrSignature, err)
	}
	if !verifyRaw(att, q.Signed, q.Signature[:]) {
		return nil, fmt.Errorf("%w: quote signature (attestation key)", attest.ErrSignature)
	}

	res := &Result{FMSPC: clone(v.pck.FMSPC[:]), Simulated: v.simulated}
	if coll == nil {
		return res, collErr
	}
	res.RevocationChecked = v.revocation
	res.CollateralExpiry = v.expiry
	if err := match(res, v, q, tdx); err != nil {
		return res, err
	}
	return res, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// verifyRaw checks an ECDSA P-256/SHA-256 signature given as r ‖ s.
func verifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 || pub == nil {
		return false
	}
	d := sha256.Sum256(msg)
	return ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// maxChain bounds the certificates of a chain.
const maxChain = 8

func parseChain(pemData []byte, what string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := pemData
	for {
		// pem.Decode skips anything before a block; here nothing may be.
		rest = bytes.TrimLeft(rest, "\r\n\t ")
		if len(bytes.Trim(rest, "\x00")) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: %s: data where a PEM block should start", attest.ErrMalformed, what)
		}
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: %s: bad PEM block", attest.ErrMalformed, what)
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %s: PEM block %q", attest.ErrMalformed, what, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", attest.ErrMalformed, what, err)
		}
		chain = append(chain, c)
		if len(chain) > maxChain {
			return nil, fmt.Errorf("%w: %s has more than %d certificates", attest.ErrMalformed, what, maxChain)
		}
	}
	// Certification data may end in NUL bytes (a C string), nothing else.
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: %s has %d certificates; want leaf, CA and root", attest.ErrMalformed, what, len(chain))
	}
	return chain, nil
}

func pckInfo(leaf *x509.Certificate) (*PCKInfo, error) {
	for _, e := range leaf.Extensions {
		if e.Id.String() == oidSGXExtension {
			return ParsePCKExtension(e.Value)
		}
	}
	return nil, fmt.Errorf("%w: PCK certificate has no SGX extension", attest.ErrMalformed)
}

// verifyChainTo verifies chain[0] up to one of anchors at now and returns
// the verified path, leaf first and anchor last.
func verifyChainTo(chain []*x509.Certificate, anchors []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	if len(anchors) == 0 {
		return nil, errors.New("no trusted root")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, a := range anchors {
		roots.AddCert(a)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

func verifyChain(chain []*x509.Certificate, opts Options) (*verified, error) {
	v := &verified{from: time.Time{}, until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	path, err := verifyChainTo(chain, opts.Roots, opts.Now)
	if err != nil && len(opts.Simulated) > 0 {
		var serr error
		if path, serr = verifyChainTo(chain, opts.Simulated, opts.Now); serr == nil {
			err = nil
			v.simulated = true
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PCK certificate: %v", attest.ErrChain, err)
	}
	for _, c := range chain {
		v.window(c.NotBefore, c.NotAfter)
	}
	pub, ok := chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: PCK key is not ECDSA P-256", attest.ErrChain)
	}
	v.leaf = pub
	if v.pck, err = pckInfo(chain[0]); err != nil {
		return nil, err
	}
	if len(path) < 2 {
		return nil, fmt.Errorf("%w: the PCK certificate is itself a trusted root", attest.ErrChain)
	}
	v.path = path
	v.anchor = path[len(path)-1]
	return v, nil
}

func (v *verified) window(from, until time.Time) {
	if from.After(v.from) {
		v.from = from
	}
	if until.Before(v.until) {
		v.until = until
	}
}

// verifyCollateral checks the collateral's chains (to the anchor the PCK
// chain reached), signatures, validity at now and CRLs, and parses it.
func verifyCollateral(v *verified, chain []*x509.Certificate, c *attest.Collateral, tee attest.TEE, now time.Time) error {
	anchors := []*x509.Certificate{v.anchor}
	signed := func(body, sig, issuer []byte, what string) error {
		ch, err := parseChain(issuer, what+" issuer chain")
		if err != nil {
			return err
		}
		// The issuer chain's validity is part of the collateral's: a time
		// outside it is reported with the collateral window below
		// (not yet valid / expired), so the chain itself is checked at a
		// time inside its window.
		cw := &verified{until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
		for _, x := range ch {
			cw.window(x.NotBefore, x.NotAfter)
			v.window(x.NotBefore, x.NotAfter)
		}
		at := now
		if now.Before(cw.from) || now.After(cw.until) {
			at = cw.from
		}
		if _, err := verifyChainTo(ch, anchors, at); err != nil {
			return fmt.Errorf("%w: %s issuer chain: %v", attest.ErrChain, what, err)
		}
		pub, ok := ch[0].PublicKey.(*ecdsa.PublicKey)
		if !ok || !verifyRaw(pub, body, sig) {
			return fmt.Errorf("%w: %s signature", attest.ErrSignature, what)
		}
		return nil
	}
	if err := signed(c.TCBInfo, c.TCBInfoSignature, c.TCBInfoIssuerChain, "TCB info"); err != nil {
		return err
	}
	if err := signed(c.QEIdentity, c.QEIdentitySignature, c.QEIdentityIssuerChain, "QE identity"); err != nil {
		return err
	}
	tcb, err := ParseTCBInfo(c.TCBInfo)
	if err != nil {
		return err
	}
	qe, err := ParseQEIdentity(c.QEIdentity)
	if err != nil {
		return err
	}
	wantTCB, wantQE := "SGX", "QE"
	if tee == attest.TDX {
		wantTCB, wantQE = "TDX", "TD_QE"
	}
	if tcb.ID != wantTCB || qe.ID != wantQE {
		return fmt.Errorf("%w: collateral is TCB info %q and QE identity %q; want %q and %q", attest.ErrCollateral, tcb.ID, qe.ID, wantTCB, wantQE)
	}
	if tcb.FMSPC != v.pck.FMSPC || tcb.PCEID != v.pck.PCEID {
		return fmt.Errorf("%w: TCB info is for FMSPC %X PCE-ID %X; the PCK certificate says %X %X", attest.ErrCollateral, tcb.FMSPC, tcb.PCEID, v.pck.FMSPC, v.pck.PCEID)
	}
	v.tcb, v.qe = tcb, qe
	v.window(tcb.IssueDate, tcb.NextUpdate)
	v.window(qe.IssueDate, qe.NextUpdate)
	v.expiry = minTime(tcb.NextUpdate, qe.NextUpdate)

	if len(c.PCKCRL) > 0 {
		crl, err := checkCRL(c.PCKCRL, v.path[1], now, "PCK CRL")
		if err != nil {
			return err
		}
		if err := notRevoked(crl, chain[0], "PCK certificate"); err != nil {
			return err
		}
		v.window(crl.ThisUpdate, crl.NextUpdate)
		v.expiry = minTime(v.expiry, crl.NextUpdate)
	}
	if len(c.RootCACRL) > 0 {
		crl, err := checkCRL(c.RootCACRL, v.anchor, now, "root CA CRL")
		if err != nil {
			return err
		}
		for _, x := range v.path[1 : len(v.path)-1] {
			if err := notRevoked(crl, x, "PCK CA certificate"); err != nil {
				return err
			}
		}
		for _, issuer := range [][]byte{c.TCBInfoIssuerChain, c.QEIdentityIssuerChain} {
			if ch, err := parseChain(issuer, "issuer chain"); err == nil { // parsed above
				if err := notRevoked(crl, ch[0], "TCB signing certificate"); err != nil {
					return err
				}
			}
		}
		v.window(crl.ThisUpdate, crl.NextUpdate)
		v.expiry = minTime(v.expiry, crl.NextUpdate)
	}
	v.revocation = len(c.PCKCRL) > 0 && len(c.RootCACRL) > 0
	if now.Before(v.from) {
		return fmt.Errorf("%w: at %s (valid from %s)", attest.ErrCollateralNotYetValid, now.Format(time.RFC3339), v.from.Format(time.RFC3339))
	}
	if now.After(v.until) {
		return fmt.Errorf("%w: at %s (valid until %s)", attest.ErrCollateralExpired, now.Format(time.RFC3339), v.until.Format(time.RFC3339))
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func checkCRL(der []byte, issuer *x509.Certificate, now time.Time, what string) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", attest.ErrMalformed, what, err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%w: %s is not signed by %q: %v", attest.ErrSignature, what, issuer.Subject.CommonName, err)
	}
	if now.Before(crl.ThisUpdate) {
		return nil, fmt.Errorf("%w: %s issued %s", attest.ErrCollateralNotYetValid, what, crl.ThisUpdate.Format(time.RFC3339))
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return nil, fmt.Errorf("%w: %s next update was %s", attest.ErrCollateralExpired, what, crl.NextUpdate.Format(time.RFC3339))
	}
	return crl, nil
}

func notRevoked(crl *x509.RevocationList, c *x509.Certificate, what string) error {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return fmt.Errorf("%w: %s (serial %x) on %s", attest.ErrRevoked, what, c.SerialNumber, e.RevocationTime.Format(time.RFC3339))
		}
	}
	return nil
}

// match finds the TCB level, the QE identity level and, for TDX, the
// module identity level, and converges their statuses as Intel's QVL does.
func match(res *Result, v *verified, q *Quote, tdx *TDXMatch) error {
	// QE identity.
	qr := q.QEReport
	qe := v.qe
	misc := qr[OffMiscSelect : OffMiscSelect+4]
	attr := qr[OffAttributes : OffAttributes+16]
	for i := range misc {
		if misc[i]&qe.MiscSelectMask[i] != qe.MiscSelect[i] {
			return fmt.Errorf("%w: QE MISCSELECT does not match the QE identity", attest.ErrTCBLevel)
		}
	}
	for i := range attr {
		if attr[i]&qe.AttributesMask[i] != qe.Attributes[i] {
			return fmt.Errorf("%w: QE attributes do not match the QE identity", attest.ErrTCBLevel)
		}
	}
	if !bytes.Equal(qr[OffMRSigner:OffMRSigner+32], qe.MRSigner) || binary.LittleEndian.Uint16(qr[OffISVProdID:]) != qe.ISVProdID {
		return fmt.Errorf("%w: QE signer or product ID does not match the QE identity", attest.ErrTCBLevel)
	}
	qeSVN := binary.LittleEndian.Uint16(qr[OffISVSVN:])
	res.QEStatus = attest.Revoked
	var qeAdv []string
	for _, l := range qe.Levels {
		if qeSVN >= l.ISVSVN {
			res.QEStatus, qeAdv = l.Status, l.AdvisoryIDs
			break
		}
	}

	// Platform TCB level.
	pck := v.pck
	var level, sgxLevel *TCBLevel
	for i := range v.tcb.Levels {
		l := &v.tcb.Levels[i]
		ok := pck.PCESVN >= l.PCESVN
		for j := 0; ok && j < 16; j++ {
			ok = pck.Comps[j] >= l.SGX[j]
		}
		if ok && sgxLevel == nil {
			sgxLevel = l
		}
		if ok && tdx != nil {
			// With a TDX module of major version > 0, the first two TEE
			// TCB SVN bytes are judged by the module identity instead.
			start := 0
			if tdx.TEETCBSVN[1] > 0 {
				start = 2
			}
			for j := start; ok && j < 16; j++ {
				ok = tdx.TEETCBSVN[j] >= l.TDX[j]
			}
		}
		if ok {
			level = l
			break
		}
	}
	if level == nil {
		return fmt.Errorf("%w: the platform's TCB (PCK components %v, PCESVN %d) is below every level of the TCB info", attest.ErrTCBLevel, pck.Comps, pck.PCESVN)
	}
	res.TCBStatus, res.TCBDate = level.Status, level.Date
	res.AdvisoryIDs = append(append([]string(nil), level.AdvisoryIDs...), qeAdv...)

	if tdx != nil {
		if err := matchModule(res, v.tcb, tdx); err != nil {
			return err
		}
		res.TCBStatus = converge(res.TCBStatus, res.ModuleStatus)
		if tdx.TEETCBSVN2 != nil {
			st, err := relaunch(v.tcb, *tdx.TEETCBSVN2, sgxLevel.Status, res.TCBStatus, res.ModuleStatus, res.QEStatus)
			if err != nil {
				return err
			}
			res.TCBStatus = st
		}
	}
	res.TCBStatus = converge(res.TCBStatus, res.QEStatus)
	slices.Sort(res.AdvisoryIDs)
	res.AdvisoryIDs = slices.Compact(res.AdvisoryIDs)
	if res.AdvisoryIDs == nil {
		res.AdvisoryIDs = []string{}
	}
	return nil
}

func matchModule(res *Result, tcb *TCBInfo, tdx *TDXMatch) error {
	check := func(m *ModuleIdentity) error {
		if !bytes.Equal(m.MRSigner, tdx.MRSignerSeam) {
			return fmt.Errorf("%w: TDX module signer does not match %s", attest.ErrTCBLevel, m.ID)
		}
		for i := range m.Attributes {
			if tdx.SeamAttributes[i]&m.AttributesMask[i] != m.Attributes[i] {
				return fmt.Errorf("%w: TDX module attributes do not match %s", attest.ErrTCBLevel, m.ID)
			}
		}
		return nil
	}
	major := tdx.TEETCBSVN[1]
	if major == 0 {
		if tcb.TDXModule != nil {
			if err := check(tcb.TDXModule); err != nil {
				return err
			}
		}
		res.ModuleStatus = attest.UpToDate
		return nil
	}
	id := fmt.Sprintf("TDX_%02X", major)
	for i := range tcb.TDXModuleIdentities {
		m := &tcb.TDXModuleIdentities[i]
		if m.ID != id {
			continue
		}
		if err := check(m); err != nil {
			return err
		}
		res.ModuleID = id
		for _, l := range m.Levels {
			if uint16(tdx.TEETCBSVN[0]) >= l.ISVSVN {
				res.ModuleStatus = l.Status
				res.AdvisoryIDs = append(res.AdvisoryIDs, l.AdvisoryIDs...)
				return nil
			}
		}
		res.ModuleStatus = attest.Revoked
		return nil
	}
	return fmt.Errorf("%w: TCB info has no TDX module identity %s", attest.ErrTCBLevel, id)
}

// relaunch applies the TD relaunch rule of Intel's QVL to a TD report 1.5
// (quote v5, body type 3): when the TD was launched under a TDX module
// that is out of date (tdxStatus OutOfDate or OutOfDateConfigurationNeeded
// because the module status is OutOfDate), but the module running now
// (svn2) has reached the latest TCB level, the SGX part of the platform is
// not out of date and the QE is neither out of date nor revoked, the
// status becomes TDRelaunchAdvised (or TDRelaunchAdvisedConfigurationNeeded
// when the SGX or TDX status needs configuration): relaunching the TD
// brings it up to date. Otherwise tdxStatus stands.
func relaunch(tcb *TCBInfo, svn2 [16]byte, sgxStatus, tdxStatus, moduleStatus, qeStatus attest.TCBStatus) (attest.TCBStatus, error) {
	switch qeStatus {
	case attest.OutOfDate, attest.OutOfDateConfigurationNeeded, attest.Revoked:
		return tdxStatus, nil
	}
	switch sgxStatus {
	case attest.UpToDate, attest.SWHardeningNeeded, attest.ConfigurationNeeded, attest.ConfigurationAndSWHardeningNeeded:
	default:
		return tdxStatus, nil
	}
	if (tdxStatus != attest.OutOfDate && tdxStatus != attest.OutOfDateConfigurationNeeded) || moduleStatus != attest.OutOfDate {
		return tdxStatus, nil
	}
	latest := &tcb.Levels[0]
	minModuleSVN := uint16(latest.TDX[0])
	if major := svn2[1]; major != 0 {
		id := fmt.Sprintf("TDX_%02X", major)
		i := slices.IndexFunc(tcb.TDXModuleIdentities, func(m ModuleIdentity) bool { return m.ID == id })
		if i < 0 {
			return "", fmt.Errorf("%w: TCB info has no TDX module identity %s for the running module", attest.ErrTCBLevel, id)
		}
		if len(tcb.TDXModuleIdentities[i].Levels) == 0 {
			return "", fmt.Errorf("%w: TDX module identity %s has no TCB level", attest.ErrTCBLevel, id)
		}
		minModuleSVN = tcb.TDXModuleIdentities[i].Levels[0].ISVSVN
	}
	if uint16(svn2[0]) < minModuleSVN || svn2[2] < latest.TDX[2] {
		return tdxStatus, nil
	}
	if configurationNeeded(sgxStatus) || configurationNeeded(tdxStatus) {
		return attest.TDRelaunchAdvisedConfigurationNeeded, nil
	}
	return attest.TDRelaunchAdvised, nil
}

func configurationNeeded(s attest.TCBStatus) bool {
	switch s {
	case attest.ConfigurationNeeded, attest.ConfigurationAndSWHardeningNeeded, attest.OutOfDateConfigurationNeeded, attest.TDRelaunchAdvisedConfigurationNeeded:
		return true
	}
	return false
}

// converge folds the status of a component (QE, TDX module) into the
// platform's, as Intel's quote verification library does.
func converge(platform, part attest.TCBStatus) attest.TCBStatus {
	switch part {
	case attest.OutOfDate:
		switch platform {
		case attest.UpToDate, attest.SWHardeningNeeded:
			return attest.OutOfDate
		case attest.ConfigurationNeeded, attest.ConfigurationAndSWHardeningNeeded:
			return attest.OutOfDateConfigurationNeeded
		}
	case attest.Revoked:
		return attest.Revoked
	}
	return platform
}
