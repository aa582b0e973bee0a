package sim

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/confide-dev/confide/attest"
)

// The simulated quoting enclave's identity. Its MRSIGNER and MRENCLAVE are
// hashes of labels, so they can never equal Intel's QE.
var (
	qeMRSigner  = sha256.Sum256([]byte("confide simulated quoting enclave signer"))
	qeMREnclave = sha256.Sum256([]byte("confide simulated quoting enclave v1"))
)

const (
	qeProductID = 1
	qeSVN       = 8
	// qeAttributesFlags is INIT | PROVISIONKEY, as Intel's QE identity.
	qeAttributesFlags = 0x11
)

const jsonTime = "2006-01-02T15:04:05Z"

type tcbComponent struct {
	SVN int `json:"svn"`
}

type sgxTCB struct {
	Components []tcbComponent `json:"sgxtcbcomponents"`
	PCESVN     int            `json:"pcesvn"`
}

type tcbLevel struct {
	TCB         sgxTCB   `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs,omitempty"`
}

// tcbInfoBody is TCB info version 3 for SGX (PCS v4 API), field order as
// Intel serves it.
type tcbInfoBody struct {
	ID                      string     `json:"id"`
	Version                 int        `json:"version"`
	IssueDate               string     `json:"issueDate"`
	NextUpdate              string     `json:"nextUpdate"`
	FMSPC                   string     `json:"fmspc"`
	PCEID                   string     `json:"pceId"`
	TCBType                 int        `json:"tcbType"`
	TCBEvaluationDataNumber int        `json:"tcbEvaluationDataNumber"`
	TCBLevels               []tcbLevel `json:"tcbLevels"`
}

type qeTCB struct {
	ISVSVN int `json:"isvsvn"`
}

type qeLevel struct {
	TCB         qeTCB    `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs,omitempty"`
}

// qeIdentityBody is enclave identity version 2 for the QE.
type qeIdentityBody struct {
	ID                      string    `json:"id"`
	Version                 int       `json:"version"`
	IssueDate               string    `json:"issueDate"`
	NextUpdate              string    `json:"nextUpdate"`
	TCBEvaluationDataNumber int       `json:"tcbEvaluationDataNumber"`
	MiscSelect              string    `json:"miscselect"`
	MiscSelectMask          string    `json:"miscselectMask"`
	Attributes              string    `json:"attributes"`
	AttributesMask          string    `json:"attributesMask"`
	MRSigner                string    `json:"mrsigner"`
	ISVProdID               int       `json:"isvprodid"`
	TCBLevels               []qeLevel `json:"tcbLevels"`
}

// advisory returns the simulated advisory ID number n. The prefix says
// they are not Intel's.
func advisory(n int) string { return fmt.Sprintf("CONFIDE-SIM-SA-%05d", n) }

// tcbLevels builds the simulated TCB levels: one per status in statusOrder,
// highest TCB first, differing in SGX TCB component 1. The platform's own
// TCB (its CPUSVN and PCESVN) is placed at the level whose status is the
// current one, so Intel's matching rule (the first level whose every
// component is <= the platform's) selects exactly that level.
func (s *State) tcbLevels(now time.Time) []tcbLevel {
	k := statusIndex(attest.TCBStatus(s.p.Status))
	levels := make([]tcbLevel, 0, len(statusOrder))
	day := now.Truncate(24 * time.Hour)
	for i, st := range statusOrder {
		comps := make([]tcbComponent, 16)
		for j := range comps {
			comps[j].SVN = int(s.p.CPUSVN[j])
		}
		comps[0].SVN = int(s.p.CPUSVN[0]) + k - i
		if comps[0].SVN < 0 {
			comps[0].SVN = 0
		}
		var adv []string
		for a := 1; a <= i; a++ {
			adv = append(adv, advisory(a))
		}
		levels = append(levels, tcbLevel{
			TCB:         sgxTCB{Components: comps, PCESVN: int(s.p.PCESVN)},
			TCBDate:     day.Add(-time.Duration(i) * 90 * 24 * time.Hour).Format(jsonTime),
			TCBStatus:   string(st),
			AdvisoryIDs: adv,
		})
	}
	return levels
}

func (s *State) tcbInfo(now time.Time) ([]byte, error) {
	body := tcbInfoBody{
		ID:                      "SGX",
		Version:                 3,
		IssueDate:               now.Format(jsonTime),
		NextUpdate:              now.Add(collateralLifetime).Format(jsonTime),
		FMSPC:                   strings.ToUpper(hex.EncodeToString(s.p.FMSPC)),
		PCEID:                   strings.ToUpper(hex.EncodeToString(s.p.PCEID)),
		TCBType:                 0,
		TCBEvaluationDataNumber: s.p.TCBEval,
		TCBLevels:               s.tcbLevels(now),
	}
	return s.signedJSON("tcbInfo", body)
}

func (s *State) qeIdentity(now time.Time) ([]byte, error) {
	day := now.Truncate(24 * time.Hour)
	body := qeIdentityBody{
		ID:                      "QE",
		Version:                 2,
		IssueDate:               now.Format(jsonTime),
		NextUpdate:              now.Add(collateralLifetime).Format(jsonTime),
		TCBEvaluationDataNumber: s.p.TCBEval,
		MiscSelect:              "00000000",
		MiscSelectMask:          "FFFFFFFF",
		Attributes:              "11000000000000000000000000000000",
		AttributesMask:          "FBFFFFFFFFFFFFFF0000000000000000",
		MRSigner:                strings.ToUpper(hex.EncodeToString(qeMRSigner[:])),
		ISVProdID:               qeProductID,
		TCBLevels: []qeLevel{
			{TCB: qeTCB{ISVSVN: qeSVN}, TCBDate: day.Format(jsonTime), TCBStatus: "UpToDate"},
			{TCB: qeTCB{ISVSVN: qeSVN - 2}, TCBDate: day.Add(-365 * 24 * time.Hour).Format(jsonTime), TCBStatus: "OutOfDate", AdvisoryIDs: []string{advisory(100)}},
		},
	}
	return s.signedJSON("enclaveIdentity", body)
}

// signedJSON returns {"<name>":<body>,"signature":"<hex r‖s>"}, the
// signature (ECDSA P-256 SHA-256 by the TCB signing key) covering the exact
// bytes of <body>.
func (s *State) signedJSON(name string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("sim: encode %s: %w", name, err)
	}
	sig, err := signRaw(s.opts.rand(), s.tcbKey, b)
	if err != nil {
		return nil, err
	}
	var out []byte
	out = append(out, `{"`+name+`":`...)
	out = append(out, b...)
	out = append(out, `,"signature":"`+hex.EncodeToString(sig)+`"}`...)
	return out, nil
}

// signRaw signs SHA-256(msg) and returns r ‖ s, 32 bytes each, as Intel's
// collateral and quotes carry ECDSA signatures.
func signRaw(r io.Reader, key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	rr, ss, err := ecdsa.Sign(r, key, h[:])
	if err != nil {
		return nil, fmt.Errorf("sim: sign: %w", err)
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}
