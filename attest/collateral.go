package attest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Collateral is what a DCAP verifier needs besides the quote: the TCB info
// and QE identity of the platform's FMSPC with their signatures and issuer
// chains, and optionally the CRLs. The byte fields hold what Intel's PCS v4
// API serves; the verifier checks every signature and chain itself.
type Collateral struct {
	// TCBInfo is the "tcbInfo" JSON object exactly as signed.
	TCBInfo []byte
	// TCBInfoSignature is its ECDSA P-256 signature, r ‖ s (64 bytes).
	TCBInfoSignature []byte
	// TCBInfoIssuerChain is the PEM chain TCB signing certificate ‖ root.
	TCBInfoIssuerChain []byte
	// QEIdentity is the "enclaveIdentity" JSON object exactly as signed.
	QEIdentity []byte
	// QEIdentitySignature is its ECDSA P-256 signature, r ‖ s.
	QEIdentitySignature []byte
	// QEIdentityIssuerChain is the PEM chain TCB signing certificate ‖ root.
	QEIdentityIssuerChain []byte
	// PCKCRL is the CRL of the PCK certificate's issuer (DER). Optional:
	// without it claims say revocation_checked: false.
	PCKCRL []byte
	// PCKCRLIssuerChain is the PEM chain PCK CA ‖ root. Optional.
	PCKCRLIssuerChain []byte
	// RootCACRL is the root CA's CRL (DER). Optional.
	RootCACRL []byte
}

// Getter fetches collateral. ca is the PCK certificate's issuer:
// "processor" or "platform". Implementations must be safe for concurrent use.
type Getter interface {
	Collateral(ctx context.Context, tee TEE, fmspc []byte, ca string) (*Collateral, error)
}

// StaticGetter returns the same collateral for every request: collateral
// read from a file.
type StaticGetter struct{ C *Collateral }

// Collateral returns g.C, or ErrCollateralMissing when it is nil.
func (g StaticGetter) Collateral(context.Context, TEE, []byte, string) (*Collateral, error) {
	if g.C == nil {
		return nil, ErrCollateralMissing
	}
	return g.C, nil
}

// maxCollateral bounds a collateral file or response.
const maxCollateral = 4 << 20

// collateralFile is the JSON shape of a collateral file: the keys used by
// ../shared/vectors and by dcap-qvl. Signatures and CRLs are hex.
type collateralFile struct {
	TCBInfo               *string `json:"tcb_info"`
	TCBInfoSignature      *string `json:"tcb_info_signature"`
	TCBInfoIssuerChain    *string `json:"tcb_info_issuer_chain"`
	QEIdentity            *string `json:"qe_identity"`
	QEIdentitySignature   *string `json:"qe_identity_signature"`
	QEIdentityIssuerChain *string `json:"qe_identity_issuer_chain"`
	PCKCRL                string  `json:"pck_crl"`
	PCKCRLIssuerChain     string  `json:"pck_crl_issuer_chain"`
	RootCACRL             string  `json:"root_ca_crl"`
}

// ParseCollateralJSON parses a collateral file (keys tcb_info,
// tcb_info_signature, tcb_info_issuer_chain, qe_identity,
// qe_identity_signature, qe_identity_issuer_chain, and optionally pck_crl,
// pck_crl_issuer_chain, root_ca_crl). It is pure: nothing is verified.
func ParseCollateralJSON(b []byte) (*Collateral, error) {
	if len(b) > maxCollateral {
		return nil, fmt.Errorf("%w: collateral file of %d bytes exceeds %d", ErrMalformed, len(b), maxCollateral)
	}
	var f collateralFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: collateral file: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: collateral file: trailing data", ErrMalformed)
	}
	req := []struct {
		name string
		v    *string
	}{
		{"tcb_info", f.TCBInfo}, {"tcb_info_signature", f.TCBInfoSignature}, {"tcb_info_issuer_chain", f.TCBInfoIssuerChain},
		{"qe_identity", f.QEIdentity}, {"qe_identity_signature", f.QEIdentitySignature}, {"qe_identity_issuer_chain", f.QEIdentityIssuerChain},
	}
	for _, r := range req {
		if r.v == nil || *r.v == "" {
			return nil, fmt.Errorf("%w: collateral file: %s is missing", ErrMalformed, r.name)
		}
	}
	c := &Collateral{
		TCBInfo:               []byte(*f.TCBInfo),
		TCBInfoIssuerChain:    []byte(*f.TCBInfoIssuerChain),
		QEIdentity:            []byte(*f.QEIdentity),
		QEIdentityIssuerChain: []byte(*f.QEIdentityIssuerChain),
		PCKCRLIssuerChain:     []byte(f.PCKCRLIssuerChain),
	}
	var err error
	dehex := func(name, s string) []byte {
		if err != nil || s == "" {
			return nil
		}
		var d []byte
		if d, err = hex.DecodeString(s); err != nil {
			err = fmt.Errorf("%w: collateral file: %s: %v", ErrMalformed, name, err)
		}
		return d
	}
	c.TCBInfoSignature = dehex("tcb_info_signature", *f.TCBInfoSignature)
	c.QEIdentitySignature = dehex("qe_identity_signature", *f.QEIdentitySignature)
	c.PCKCRL = dehex("pck_crl", f.PCKCRL)
	c.RootCACRL = dehex("root_ca_crl", f.RootCACRL)
	if err != nil {
		return nil, err
	}
	if (c.PCKCRL == nil) != (len(c.PCKCRLIssuerChain) == 0) {
		return nil, fmt.Errorf("%w: collateral file: pck_crl and pck_crl_issuer_chain go together", ErrMalformed)
	}
	return c, nil
}

// SplitSigned splits a PCS v4 response body of the form
// {"<field>": {...}, "signature": "hex"} into the signed object, byte for
// byte as served, and the decoded signature. field is "tcbInfo" or
// "enclaveIdentity".
func SplitSigned(body []byte, field string) (signed, sig []byte, err error) {
	if len(body) > maxCollateral {
		return nil, nil, fmt.Errorf("%w: %s body of %d bytes", ErrMalformed, field, len(body))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: %s body: %v", ErrMalformed, field, err)
	}
	obj, ok := m[field]
	if !ok || len(obj) == 0 || obj[0] != '{' {
		return nil, nil, fmt.Errorf("%w: %s body has no %q object", ErrMalformed, field, field)
	}
	var s string
	if err := json.Unmarshal(m["signature"], &s); err != nil {
		return nil, nil, fmt.Errorf("%w: %s body: signature: %v", ErrMalformed, field, err)
	}
	if sig, err = hex.DecodeString(s); err != nil {
		return nil, nil, fmt.Errorf("%w: %s body: signature: %v", ErrMalformed, field, err)
	}
	return append([]byte(nil), obj...), sig, nil
}
