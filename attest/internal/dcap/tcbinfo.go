package dcap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/confide-dev/confide/attest"
)

// maxJSON bounds a TCB info or QE identity document.
const maxJSON = 1 << 20

// TCBInfo is a parsed TCB info document (version 2 or 3; "SGX" or "TDX").
type TCBInfo struct {
	ID         string
	Version    int
	IssueDate  time.Time
	NextUpdate time.Time
	FMSPC      [6]byte
	PCEID      [2]byte
	EvalNumber int
	// TDXModule is the module identity for TDX module major version 0.
	TDXModule *ModuleIdentity
	// TDXModuleIdentities are the identities by module major version.
	TDXModuleIdentities []ModuleIdentity
	Levels              []TCBLevel
}

// TCBLevel is one TCB level, in the order of the document (highest first).
type TCBLevel struct {
	SGX         [16]byte
	PCESVN      uint16
	TDX         [16]byte
	HasTDX      bool
	Date        time.Time
	Status      attest.TCBStatus
	AdvisoryIDs []string
}

// ModuleIdentity is a TDX module identity of TCB info v3.
type ModuleIdentity struct {
	ID             string
	MRSigner       []byte
	Attributes     []byte
	AttributesMask []byte
	Levels         []QELevel
}

// QEIdentity is a parsed enclave identity document for "QE", "QVE" or "TD_QE".
type QEIdentity struct {
	ID             string
	Version        int
	IssueDate      time.Time
	NextUpdate     time.Time
	MiscSelect     []byte
	MiscSelectMask []byte
	Attributes     []byte
	AttributesMask []byte
	MRSigner       []byte
	ISVProdID      uint16
	Levels         []QELevel
}

// QELevel is one level of a QE identity or TDX module identity.
type QELevel struct {
	ISVSVN      uint16
	Date        time.Time
	Status      attest.TCBStatus
	AdvisoryIDs []string
}

type jsonComp struct {
	SVN *int `json:"svn"`
}

type jsonLevel struct {
	TCB struct {
		SGX    []jsonComp `json:"sgxtcbcomponents"`
		PCESVN *int       `json:"pcesvn"`
		TDX    []jsonComp `json:"tdxtcbcomponents"`
		ISVSVN *int       `json:"isvsvn"`
	} `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs"`
}

type jsonModule struct {
	ID             string      `json:"id"`
	MRSigner       string      `json:"mrsigner"`
	Attributes     string      `json:"attributes"`
	AttributesMask string      `json:"attributesMask"`
	TCBLevels      []jsonLevel `json:"tcbLevels"`
}

type jsonTCBInfo struct {
	ID                  string       `json:"id"`
	Version             int          `json:"version"`
	IssueDate           string       `json:"issueDate"`
	NextUpdate          string       `json:"nextUpdate"`
	FMSPC               string       `json:"fmspc"`
	PCEID               string       `json:"pceId"`
	TCBType             int          `json:"tcbType"`
	EvalNumber          int          `json:"tcbEvaluationDataNumber"`
	TDXModule           *jsonModule  `json:"tdxModule"`
	TDXModuleIdentities []jsonModule `json:"tdxModuleIdentities"`
	TCBLevels           []jsonLevel  `json:"tcbLevels"`
}

func decodeJSON(b []byte, v any, what string) error {
	if len(b) > maxJSON {
		return fmt.Errorf("%w: %s of %d bytes", attest.ErrMalformed, what, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", attest.ErrMalformed, what, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: trailing data", attest.ErrMalformed, what)
	}
	return nil
}

func parseTime(s, what string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %v", attest.ErrMalformed, what, err)
	}
	return t, nil
}

func fixedHex(dst []byte, s, what string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("%w: %s %q: want %d hex bytes", attest.ErrMalformed, what, s, len(dst))
	}
	copy(dst, b)
	return nil
}

func anyHex(s, what string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || (n > 0 && len(b) != n) {
		return nil, fmt.Errorf("%w: %s %q: want %d hex bytes", attest.ErrMalformed, what, s, n)
	}
	return b, nil
}

func status(s, what string) (attest.TCBStatus, error) {
	switch st := attest.TCBStatus(s); st {
	case attest.UpToDate, attest.SWHardeningNeeded, attest.ConfigurationNeeded, attest.ConfigurationAndSWHardeningNeeded,
		attest.OutOfDate, attest.OutOfDateConfigurationNeeded, attest.Revoked:
		return st, nil
	}
	return "", fmt.Errorf("%w: %s: unknown TCB status %q", attest.ErrMalformed, what, s)
}

func comps(dst []byte, c []jsonComp, what string) error {
	if len(c) != 16 {
		return fmt.Errorf("%w: %s: %d components; want 16", attest.ErrMalformed, what, len(c))
	}
	for i, x := range c {
		if x.SVN == nil || *x.SVN < 0 || *x.SVN > 255 {
			return fmt.Errorf("%w: %s: component %d out of range", attest.ErrMalformed, what, i)
		}
		dst[i] = byte(*x.SVN)
	}
	return nil
}

func qeLevels(in []jsonLevel, what string) ([]QELevel, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: %s has no TCB levels", attest.ErrMalformed, what)
	}
	out := make([]QELevel, 0, len(in))
	for _, l := range in {
		if l.TCB.ISVSVN == nil || *l.TCB.ISVSVN < 0 || *l.TCB.ISVSVN > 65535 {
			return nil, fmt.Errorf("%w: %s: level without a valid isvsvn", attest.ErrMalformed, what)
		}
		d, err := parseTime(l.TCBDate, what+" tcbDate")
		if err != nil {
			return nil, err
		}
		st, err := status(l.TCBStatus, what)
		if err != nil {
			return nil, err
		}
		out = append(out, QELevel{ISVSVN: uint16(*l.TCB.ISVSVN), Date: d, Status: st, AdvisoryIDs: l.AdvisoryIDs})
	}
	return out, nil
}

func parseModule(m jsonModule, what string) (ModuleIdentity, error) {
	var err error
	mi := ModuleIdentity{ID: m.ID}
	if mi.MRSigner, err = anyHex(m.MRSigner, what+" mrsigner", 48); err != nil {
		return mi, err
	}
	if mi.Attributes, err = anyHex(m.Attributes, what+" attributes", 8); err != nil {
		return mi, err
	}
	if mi.AttributesMask, err = anyHex(m.AttributesMask, what+" attributesMask", 8); err != nil {
		return mi, err
	}
	if m.TCBLevels != nil {
		mi.Levels, err = qeLevels(m.TCBLevels, what)
	}
	return mi, err
}

// ParseTCBInfo parses the signed "tcbInfo" object. It is pure.
func ParseTCBInfo(b []byte) (*TCBInfo, error) {
	var j jsonTCBInfo
	if err := decodeJSON(b, &j, "TCB info"); err != nil {
		return nil, err
	}
	t := &TCBInfo{ID: j.ID, Version: j.Version, EvalNumber: j.EvalNumber}
	if j.ID != "SGX" && j.ID != "TDX" {
		return nil, fmt.Errorf("%w: TCB info id %q", attest.ErrMalformed, j.ID)
	}
	if j.Version != 2 && j.Version != 3 {
		return nil, fmt.Errorf("%w: TCB info version %d", attest.ErrMalformed, j.Version)
	}
	var err error
	if t.IssueDate, err = parseTime(j.IssueDate, "TCB info issueDate"); err != nil {
		return nil, err
	}
	if t.NextUpdate, err = parseTime(j.NextUpdate, "TCB info nextUpdate"); err != nil {
		return nil, err
	}
	if err := fixedHex(t.FMSPC[:], j.FMSPC, "TCB info fmspc"); err != nil {
		return nil, err
	}
	if err := fixedHex(t.PCEID[:], j.PCEID, "TCB info pceId"); err != nil {
		return nil, err
	}
	if j.TDXModule != nil {
		m, err := parseModule(*j.TDXModule, "TCB info tdxModule")
		if err != nil {
			return nil, err
		}
		t.TDXModule = &m
	}
	for _, jm := range j.TDXModuleIdentities {
		m, err := parseModule(jm, "TCB info tdxModuleIdentities")
		if err != nil {
			return nil, err
		}
		if m.Levels == nil {
			return nil, fmt.Errorf("%w: TDX module identity %q has no TCB levels", attest.ErrMalformed, m.ID)
		}
		t.TDXModuleIdentities = append(t.TDXModuleIdentities, m)
	}
	if len(j.TCBLevels) == 0 {
		return nil, fmt.Errorf("%w: TCB info has no TCB levels", attest.ErrMalformed)
	}
	for _, jl := range j.TCBLevels {
		var l TCBLevel
		if err := comps(l.SGX[:], jl.TCB.SGX, "TCB info sgxtcbcomponents"); err != nil {
			return nil, err
		}
		if jl.TCB.PCESVN == nil || *jl.TCB.PCESVN < 0 || *jl.TCB.PCESVN > 65535 {
			return nil, fmt.Errorf("%w: TCB info: level without a valid pcesvn", attest.ErrMalformed)
		}
		l.PCESVN = uint16(*jl.TCB.PCESVN)
		if jl.TCB.TDX != nil {
			if err := comps(l.TDX[:], jl.TCB.TDX, "TCB info tdxtcbcomponents"); err != nil {
				return nil, err
			}
			l.HasTDX = true
		}
		if j.ID == "TDX" && !l.HasTDX {
			return nil, fmt.Errorf("%w: TDX TCB info level without tdxtcbcomponents", attest.ErrMalformed)
		}
		if l.Date, err = parseTime(jl.TCBDate, "TCB info tcbDate"); err != nil {
			return nil, err
		}
		if l.Status, err = status(jl.TCBStatus, "TCB info"); err != nil {
			return nil, err
		}
		l.AdvisoryIDs = jl.AdvisoryIDs
		t.Levels = append(t.Levels, l)
	}
	return t, nil
}

type jsonQEIdentity struct {
	ID             string      `json:"id"`
	Version        int         `json:"version"`
	IssueDate      string      `json:"issueDate"`
	NextUpdate     string      `json:"nextUpdate"`
	EvalNumber     int         `json:"tcbEvaluationDataNumber"`
	MiscSelect     string      `json:"miscselect"`
	MiscSelectMask string      `json:"miscselectMask"`
	Attributes     string      `json:"attributes"`
	AttributesMask string      `json:"attributesMask"`
	MRSigner       string      `json:"mrsigner"`
	ISVProdID      *int        `json:"isvprodid"`
	TCBLevels      []jsonLevel `json:"tcbLevels"`
}

// ParseQEIdentity parses the signed "enclaveIdentity" object. It is pure.
func ParseQEIdentity(b []byte) (*QEIdentity, error) {
	var j jsonQEIdentity
	if err := decodeJSON(b, &j, "QE identity"); err != nil {
		return nil, err
	}
	if j.ID != "QE" && j.ID != "TD_QE" && j.ID != "QVE" {
		return nil, fmt.Errorf("%w: QE identity id %q", attest.ErrMalformed, j.ID)
	}
	if j.Version != 2 {
		return nil, fmt.Errorf("%w: QE identity version %d", attest.ErrMalformed, j.Version)
	}
	q := &QEIdentity{ID: j.ID, Version: j.Version}
	var err error
	if q.IssueDate, err = parseTime(j.IssueDate, "QE identity issueDate"); err != nil {
		return nil, err
	}
	if q.NextUpdate, err = parseTime(j.NextUpdate, "QE identity nextUpdate"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		dst  *[]byte
		s    string
		name string
		n    int
	}{
		{&q.MiscSelect, j.MiscSelect, "miscselect", 4}, {&q.MiscSelectMask, j.MiscSelectMask, "miscselectMask", 4},
		{&q.Attributes, j.Attributes, "attributes", 16}, {&q.AttributesMask, j.AttributesMask, "attributesMask", 16},
		{&q.MRSigner, j.MRSigner, "mrsigner", 32},
	} {
		if *f.dst, err = anyHex(f.s, "QE identity "+f.name, f.n); err != nil {
			return nil, err
		}
	}
	if j.ISVProdID == nil || *j.ISVProdID < 0 || *j.ISVProdID > 65535 {
		return nil, fmt.Errorf("%w: QE identity isvprodid missing or out of range", attest.ErrMalformed)
	}
	q.ISVProdID = uint16(*j.ISVProdID)
	if q.Levels, err = qeLevels(j.TCBLevels, "QE identity"); err != nil {
		return nil, err
	}
	return q, nil
}
