package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/confide-dev/confide/attest"
)

// StateFile is the name of the state file inside a state directory.
const StateFile = "state.json"

// RootCAFile is the name of the PEM copy of the simulated root CA
// certificate written next to the state, for configuring verifiers.
const RootCAFile = "root-ca.pem"

const stateVersion = 1

// Lifetimes of the simulated PKI objects, as Intel's: collateral and the
// PCK CRL are valid 30 days, the root CA CRL a year.
const (
	collateralLifetime = 30 * 24 * time.Hour
	rootCRLLifetime    = 365 * 24 * time.Hour
	caLifetime         = 25 * 365 * 24 * time.Hour
	leafLifetime       = 7 * 365 * 24 * time.Hour
)

// Errors returned by this package.
var (
	// ErrNoState is returned by LoadState for a directory without state.
	ErrNoState = errors.New("sim: no simulated platform state in directory")
	// ErrState is returned for a state file that cannot be used.
	ErrState = errors.New("sim: invalid platform state")
	// ErrMalformed is returned for a malformed TARGETINFO or other input.
	ErrMalformed = errors.New("sim: malformed input")
	// ErrStatus is returned by SetTCBStatus for an unknown TCB status.
	ErrStatus = errors.New("sim: unknown tcb status")
)

// StateOptions controls the creation and re-issuing of state.
type StateOptions struct {
	// Rand is the source of randomness; nil means crypto/rand.
	Rand io.Reader
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (o StateOptions) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

func (o StateOptions) now() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

// statusOrder lists the TCB statuses the simulated platform can be moved to,
// in the order of the simulated TCB info's levels (highest TCB first).
var statusOrder = [...]attest.TCBStatus{
	attest.UpToDate,
	attest.SWHardeningNeeded,
	attest.ConfigurationNeeded,
	attest.ConfigurationAndSWHardeningNeeded,
	attest.OutOfDate,
	attest.OutOfDateConfigurationNeeded,
	attest.Revoked,
}

// Statuses returns the TCB statuses SetTCBStatus accepts.
func Statuses() []attest.TCBStatus { return append([]attest.TCBStatus(nil), statusOrder[:]...) }

func statusIndex(s attest.TCBStatus) int {
	for i, x := range statusOrder {
		if x == s {
			return i
		}
	}
	return -1
}

// persisted is the on-disk form of the state (state.json, mode 0600).
type persisted struct {
	Version    int       `json:"version"`
	Secret     []byte    `json:"root_secret"`
	CPUSVN     []byte    `json:"cpusvn"`
	PCESVN     uint16    `json:"pcesvn"`
	PPID       []byte    `json:"ppid"`
	FMSPC      []byte    `json:"fmspc"`
	PCEID      []byte    `json:"pceid"`
	QEID       []byte    `json:"qeid"`
	Status     string    `json:"tcb_status"`
	Revoked    bool      `json:"pck_revoked"`
	CRLNumber  int64     `json:"crl_number"`
	TCBEval    int       `json:"tcb_evaluation_data_number"`
	IssuedAt   time.Time `json:"issued_at"`
	RootKey    []byte    `json:"root_key"`
	CAKey      []byte    `json:"pck_ca_key"`
	PCKKey     []byte    `json:"pck_key"`
	TCBKey     []byte    `json:"tcb_signing_key"`
	AttestKey  []byte    `json:"attestation_key"`
	RootCert   []byte    `json:"root_cert"`
	CACert     []byte    `json:"pck_ca_cert"`
	PCKCert    []byte    `json:"pck_cert"`
	TCBCert    []byte    `json:"tcb_signing_cert"`
	RootCRL    []byte    `json:"root_ca_crl"`
	PCKCRL     []byte    `json:"pck_crl"`
	TCBInfo    []byte    `json:"tcb_info"`
	QEIdentity []byte    `json:"qe_identity"`
}

// State is a simulated platform's state: its secrets and its simulated
// Intel PKI and collateral. Methods that change it write it back to the
// state directory atomically. A State is not safe for concurrent use.
type State struct {
	dir  string
	opts StateOptions
	p    persisted

	rootKey, caKey, pckKey, tcbKey, attestKey *ecdsa.PrivateKey
	root, ca, pck, tcbSigning                 *x509.Certificate
}

// Init opens the state in dir, creating the directory (mode 0700) and a
// fresh simulated platform (state file mode 0600) on first use. It is the
// same as InitWith with zero options.
func Init(dir string) (*State, error) { return InitWith(dir, StateOptions{}) }

// InitWith is Init with options. When several processes race to create the
// state, exactly one wins and all load its state.
func InitWith(dir string, opts StateOptions) (*State, error) {
	s, err := load(dir, opts)
	if err == nil || !errors.Is(err, ErrNoState) {
		return s, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: create state directory: %w", err)
	}
	s, err = generate(dir, opts)
	if err != nil {
		return nil, err
	}
	if err := s.write(true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return load(dir, opts)
		}
		return nil, err
	}
	return s, nil
}

// LoadState loads existing state from dir; it returns ErrNoState when
// there is none.
func LoadState(dir string) (*State, error) { return load(dir, StateOptions{}) }

func load(dir string, opts StateOptions) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoState, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("sim: read state: %w", err)
	}
	return decodeState(dir, b, opts)
}

// decodeState parses the contents of a state file.
func decodeState(dir string, b []byte, opts StateOptions) (*State, error) {
	s := &State{dir: dir, opts: opts}
	if err := json.Unmarshal(b, &s.p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if err := s.decode(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *State) decode() error {
	p := &s.p
	if p.Version != stateVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrState, p.Version, stateVersion)
	}
	if len(p.Secret) != 32 || len(p.CPUSVN) != 16 || len(p.PPID) != 16 || len(p.FMSPC) != 6 || len(p.PCEID) != 2 || len(p.QEID) != 16 {
		return fmt.Errorf("%w: bad field length", ErrState)
	}
	if statusIndex(attest.TCBStatus(p.Status)) < 0 {
		return fmt.Errorf("%w: tcb status %q", ErrState, p.Status)
	}
	var err error
	for _, k := range []struct {
		dst **ecdsa.PrivateKey
		der []byte
	}{{&s.rootKey, p.RootKey}, {&s.caKey, p.CAKey}, {&s.pckKey, p.PCKKey}, {&s.tcbKey, p.TCBKey}, {&s.attestKey, p.AttestKey}} {
		if *k.dst, err = parseKey(k.der); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		dst **x509.Certificate
		der []byte
	}{{&s.root, p.RootCert}, {&s.ca, p.CACert}, {&s.pck, p.PCKCert}, {&s.tcbSigning, p.TCBCert}} {
		if *c.dst, err = x509.ParseCertificate(c.der); err != nil {
			return fmt.Errorf("%w: %v", ErrState, err)
		}
	}
	return nil
}

func parseKey(der []byte) (*ecdsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: key is not ECDSA P-256", ErrState)
	}
	return ek, nil
}

// generate makes a fresh simulated platform.
func generate(dir string, opts StateOptions) (*State, error) {
	r := opts.rand()
	s := &State{dir: dir, opts: opts}
	p := &s.p
	p.Version = stateVersion
	p.Secret = make([]byte, 32)
	p.PPID = make([]byte, 16)
	p.QEID = make([]byte, 16)
	for _, b := range [][]byte{p.Secret, p.PPID, p.QEID} {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("sim: read random: %w", err)
		}
	}
	// A CPUSVN shaped like a real one: the 16 SGX TCB component SVNs.
	p.CPUSVN = []byte{14, 14, 3, 3, 255, 1, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	p.PCESVN = 13
	// FMSPC: family-model-stepping-platform-custom SKU. 0xC0F1DE marks it
	// as confide's simulated family (no Intel FMSPC starts with C0F1DE).
	p.FMSPC = []byte{0xC0, 0xF1, 0xDE, 0x00, 0x00, 0x00}
	p.PCEID = []byte{0, 0}
	p.Status = string(attest.UpToDate)
	p.CRLNumber = 1
	p.TCBEval = 1
	now := opts.now()
	p.IssuedAt = now

	var err error
	for _, k := range []**ecdsa.PrivateKey{&s.rootKey, &s.caKey, &s.pckKey, &s.tcbKey, &s.attestKey} {
		if *k, err = ecdsa.GenerateKey(elliptic.P256(), r); err != nil {
			return nil, fmt.Errorf("sim: generate key: %w", err)
		}
	}
	for _, k := range []struct {
		dst *[]byte
		key *ecdsa.PrivateKey
	}{{&p.RootKey, s.rootKey}, {&p.CAKey, s.caKey}, {&p.PCKKey, s.pckKey}, {&p.TCBKey, s.tcbKey}, {&p.AttestKey, s.attestKey}} {
		if *k.dst, err = x509.MarshalPKCS8PrivateKey(k.key); err != nil {
			return nil, fmt.Errorf("sim: encode key: %w", err)
		}
	}

	notBefore := now.Add(-time.Hour).Truncate(time.Second)
	rootTmpl := &x509.Certificate{
		RawSubject:            rawName("confide simulated SGX Root CA"),
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		CRLDistributionPoints: []string{pcsBaseURL + "/rootcacrl"},
	}
	if p.RootCert, s.root, err = s.issue(rootTmpl, nil, s.rootKey, s.rootKey); err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		RawSubject:            rawName("confide simulated SGX PCK Processor CA"),
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		CRLDistributionPoints: []string{pcsBaseURL + "/rootcacrl"},
	}
	if p.CACert, s.ca, err = s.issue(caTmpl, s.root, s.caKey, s.rootKey); err != nil {
		return nil, err
	}
	tcbTmpl := &x509.Certificate{
		RawSubject:            rawName("confide simulated SGX TCB Signing"),
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(leafLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{pcsBaseURL + "/rootcacrl"},
	}
	if p.TCBCert, s.tcbSigning, err = s.issue(tcbTmpl, s.root, s.tcbKey, s.rootKey); err != nil {
		return nil, err
	}
	if err := s.issuePCK(notBefore); err != nil {
		return nil, err
	}
	if err := s.reissue(now); err != nil {
		return nil, err
	}
	return s, nil
}

// pcsBaseURL is where the simulated certificates say their CRLs are. The
// .invalid name never resolves: verifiers get collateral from PCSHandler
// or from files, never from these URLs.
const pcsBaseURL = "https://pcs.confide.invalid/sgx/certification/v4"

func (s *State) issuePCK(notBefore time.Time) error {
	var ppid, cpusvn [16]byte
	var pceid [2]byte
	var fmspc [6]byte
	copy(ppid[:], s.p.PPID)
	copy(cpusvn[:], s.p.CPUSVN)
	copy(pceid[:], s.p.PCEID)
	copy(fmspc[:], s.p.FMSPC)
	ext, err := sgxExtensionValue(ppid, cpusvn, s.p.PCESVN, pceid, fmspc)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		RawSubject:            rawName("confide simulated SGX PCK Certificate"),
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(leafLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{pcsBaseURL + "/pckcrl?ca=processor&encoding=der"},
		ExtraExtensions:       []pkix.Extension{{Id: oidSGXExtension, Value: ext}},
	}
	s.p.PCKCert, s.pck, err = s.issue(tmpl, s.ca, s.pckKey, s.caKey)
	return err
}

// issue signs tmpl (with a fresh 20-byte serial and a subject key ID) by
// parent's key; parent nil means self-signed.
func (s *State) issue(tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial := make([]byte, 20)
	if _, err := io.ReadFull(s.opts.rand(), serial); err != nil {
		return nil, nil, fmt.Errorf("sim: read random: %w", err)
	}
	serial[0] &= 0x7f
	serial[0] |= 0x01 // keep 20 bytes and positive, as Intel's serials
	tmpl.SerialNumber = new(big.Int).SetBytes(serial)
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, fmt.Errorf("sim: public key: %w", err)
	}
	ski := sha1.Sum(pub.Bytes())
	tmpl.SubjectKeyId = ski[:]
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(s.opts.rand(), tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: create certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: parse certificate: %w", err)
	}
	return der, c, nil
}

// rawName encodes a distinguished name as Intel's certificates do: CN, O,
// L, ST, C, all as UTF8String.
func rawName(cn string) []byte {
	type atv struct {
		Type  asn1.ObjectIdentifier
		Value string `asn1:"utf8"`
	}
	// An RDN is a SET OF; encoding/asn1 encodes a slice type whose name
	// ends in SET as a SET.
	type rdnSET []atv
	var rdns []rdnSET
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{asn1.ObjectIdentifier{2, 5, 4, 3}, cn},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "confide simulated (not Intel)"},
		{asn1.ObjectIdentifier{2, 5, 4, 7}, "Simulated"},
		{asn1.ObjectIdentifier{2, 5, 4, 8}, "CA"},
		{asn1.ObjectIdentifier{2, 5, 4, 6}, "US"},
	} {
		rdns = append(rdns, rdnSET{{a.oid, a.v}})
	}
	b, err := asn1.Marshal(rdns)
	if err != nil {
		panic("sim: encode name: " + err.Error()) // constant input; cannot fail
	}
	return b
}

// write stores the state atomically: a temporary file in the same
// directory, synced, then linked (create: fails if state exists) or renamed
// over the old one. It also refreshes root-ca.pem.
func (s *State) write(create bool) error {
	b, err := json.MarshalIndent(&s.p, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: encode state: %w", err)
	}
	if err := atomicWrite(s.dir, StateFile, b, create); err != nil {
		return err
	}
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.p.RootCert})
	return atomicWrite(s.dir, RootCAFile, rootPEM, false)
}

func atomicWrite(dir, name string, data []byte, create bool) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("sim: write state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sim: write state: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("sim: write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sim: write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: write state: %w", err)
	}
	dst := filepath.Join(dir, name)
	if create {
		err = os.Link(tmp, dst)
	} else {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return fmt.Errorf("sim: write state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Dir returns the state directory.
func (s *State) Dir() string { return s.dir }

// RootCertificate returns the simulated root CA certificate, the trust
// anchor a verifier must be given to accept this platform's quotes.
func (s *State) RootCertificate() *x509.Certificate { return s.root }

// RootFingerprint returns the SHA-256 of the root CA certificate's DER.
func (s *State) RootFingerprint() [32]byte { return sha256.Sum256(s.p.RootCert) }

// PCKCertificate returns the simulated PCK leaf certificate.
func (s *State) PCKCertificate() *x509.Certificate { return s.pck }

// PCKChain returns the PCK leaf, the PCK Processor CA and the root, in that
// order.
func (s *State) PCKChain() []*x509.Certificate { return []*x509.Certificate{s.pck, s.ca, s.root} }

// FMSPC returns the simulated platform's FMSPC.
func (s *State) FMSPC() [6]byte {
	var f [6]byte
	copy(f[:], s.p.FMSPC)
	return f
}

// CPUSVN returns the simulated platform's CPU security version.
func (s *State) CPUSVN() [16]byte {
	var c [16]byte
	copy(c[:], s.p.CPUSVN)
	return c
}

// PCESVN returns the simulated platform's PCE security version.
func (s *State) PCESVN() uint16 { return s.p.PCESVN }

// TCBStatus returns the status the simulated TCB info gives the platform.
func (s *State) TCBStatus() attest.TCBStatus { return attest.TCBStatus(s.p.Status) }

// PCKRevoked reports whether the PCK certificate is on the PCK CRL.
func (s *State) PCKRevoked() bool { return s.p.Revoked }

// Collateral is the verification collateral for the simulated platform,
// in the byte formats Intel's PCS v4 API serves.
type Collateral struct {
	// TCBInfo is the TCB info response body: {"tcbInfo":{...},"signature":"hex"}.
	TCBInfo []byte
	// TCBInfoIssuerChain is the PEM chain TCB signing cert ‖ root.
	TCBInfoIssuerChain []byte
	// QEIdentity is the QE identity response body: {"enclaveIdentity":{...},"signature":"hex"}.
	QEIdentity []byte
	// QEIdentityIssuerChain is the PEM chain TCB signing cert ‖ root.
	QEIdentityIssuerChain []byte
	// PCKCRL is the PCK Processor CA CRL, DER.
	PCKCRL []byte
	// PCKCRLIssuerChain is the PEM chain PCK Processor CA ‖ root.
	PCKCRLIssuerChain []byte
	// RootCACRL is the root CA CRL, DER.
	RootCACRL []byte
	// RootCA is the root CA certificate, DER.
	RootCA []byte
}

// Collateral returns copies of the current collateral.
func (s *State) Collateral() Collateral {
	tcbChain := pemChain(s.p.TCBCert, s.p.RootCert)
	return Collateral{
		TCBInfo:               clone(s.p.TCBInfo),
		TCBInfoIssuerChain:    tcbChain,
		QEIdentity:            clone(s.p.QEIdentity),
		QEIdentityIssuerChain: clone(tcbChain),
		PCKCRL:                clone(s.p.PCKCRL),
		PCKCRLIssuerChain:     pemChain(s.p.CACert, s.p.RootCert),
		RootCACRL:             clone(s.p.RootCRL),
		RootCA:                clone(s.p.RootCert),
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func pemChain(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}

// SetTCBStatus re-issues the TCB info so that the platform's TCB (its
// CPUSVN and PCESVN, as in its PCK certificate) matches a level with the
// given status, and saves the state. The platform's CPUSVN, and so its
// seal keys, do not change.
func (s *State) SetTCBStatus(status attest.TCBStatus) error {
	if statusIndex(status) < 0 {
		return fmt.Errorf("%w: %q", ErrStatus, status)
	}
	s.p.Status = string(status)
	s.p.TCBEval++
	if err := s.reissue(s.opts.now()); err != nil {
		return err
	}
	return s.write(false)
}

// RevokePCK puts the PCK certificate on the PCK CRL (revoked true) or
// takes it off (false), re-issues the CRL and saves the state.
func (s *State) RevokePCK(revoked bool) error {
	s.p.Revoked = revoked
	if err := s.reissue(s.opts.now()); err != nil {
		return err
	}
	return s.write(false)
}

// Refresh re-issues the collateral (TCB info, QE identity, CRLs) with the
// current time as issue date, and saves the state. Collateral expires 30
// days after it is issued, as Intel's does.
func (s *State) Refresh() error {
	if err := s.reissue(s.opts.now()); err != nil {
		return err
	}
	return s.write(false)
}

// IssuedAt returns when the collateral was last issued.
func (s *State) IssuedAt() time.Time { return s.p.IssuedAt }

// reissue signs fresh TCB info, QE identity and CRLs dated now.
func (s *State) reissue(now time.Time) error {
	now = now.Truncate(time.Second)
	s.p.IssuedAt = now
	var err error
	if s.p.TCBInfo, err = s.tcbInfo(now); err != nil {
		return err
	}
	if s.p.QEIdentity, err = s.qeIdentity(now); err != nil {
		return err
	}
	s.p.CRLNumber++
	rootCRL := &x509.RevocationList{
		Number:     big.NewInt(s.p.CRLNumber),
		ThisUpdate: now,
		NextUpdate: now.Add(rootCRLLifetime),
	}
	if s.p.RootCRL, err = x509.CreateRevocationList(s.opts.rand(), rootCRL, s.root, s.rootKey); err != nil {
		return fmt.Errorf("sim: create root crl: %w", err)
	}
	pckCRL := &x509.RevocationList{
		Number:     big.NewInt(s.p.CRLNumber),
		ThisUpdate: now,
		NextUpdate: now.Add(collateralLifetime),
	}
	if s.p.Revoked {
		pckCRL.RevokedCertificateEntries = []x509.RevocationListEntry{{
			SerialNumber:   s.pck.SerialNumber,
			RevocationTime: now,
		}}
	}
	if s.p.PCKCRL, err = x509.CreateRevocationList(s.opts.rand(), pckCRL, s.ca, s.caKey); err != nil {
		return fmt.Errorf("sim: create pck crl: %w", err)
	}
	return nil
}

// AttestCollateral returns the current collateral in the form the
// verifiers in attest/sgx take.
func (s *State) AttestCollateral() (*attest.Collateral, error) {
	c := s.Collateral()
	tcb, tcbSig, err := attest.SplitSigned(c.TCBInfo, "tcbInfo")
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	qe, qeSig, err := attest.SplitSigned(c.QEIdentity, "enclaveIdentity")
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return &attest.Collateral{
		TCBInfo: tcb, TCBInfoSignature: tcbSig, TCBInfoIssuerChain: c.TCBInfoIssuerChain,
		QEIdentity: qe, QEIdentitySignature: qeSig, QEIdentityIssuerChain: c.QEIdentityIssuerChain,
		PCKCRL: c.PCKCRL, PCKCRLIssuerChain: c.PCKCRLIssuerChain, RootCACRL: c.RootCACRL,
	}, nil
}

// Getter returns an attest.Getter serving this platform's current
// collateral. It re-reads the state directory when the state file changes,
// so TCB and revocation changes made by another process are seen.
func (s *State) Getter() attest.Getter { return &simGetter{dir: s.dir} }

type simGetter struct {
	dir   string
	mu    sync.Mutex
	stamp string // state file size and modification time
	fmspc [6]byte
	c     *attest.Collateral
}

func (g *simGetter) Collateral(_ context.Context, tee attest.TEE, fmspc []byte, _ string) (*attest.Collateral, error) {
	if tee != attest.SGX {
		return nil, fmt.Errorf("%w: the simulated platform has no %s collateral", attest.ErrCollateralMissing, tee)
	}
	fi, err := os.Stat(filepath.Join(g.dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", attest.ErrCollateralMissing, err)
	}
	stamp := fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c == nil || stamp != g.stamp {
		s, err := LoadState(g.dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", attest.ErrCollateralMissing, err)
		}
		c, err := s.AttestCollateral()
		if err != nil {
			return nil, err
		}
		g.c, g.stamp, g.fmspc = c, stamp, s.FMSPC()
	}
	if !bytes.Equal(fmspc, g.fmspc[:]) {
		return nil, fmt.Errorf("%w: FMSPC %X is not the simulated platform's", attest.ErrCollateralMissing, fmspc)
	}
	return g.c, nil
}
