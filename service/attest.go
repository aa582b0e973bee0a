package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/confide-dev/confide/attest"
)

// RuntimeData is data the enclave bound into its report data.
type RuntimeData struct {
	// Data is the base64url encoded bytes.
	Data string `json:"data"`
	// DataType is "Binary" or "JSON"; JSON data is parsed into the token.
	DataType string `json:"dataType"`
}

// AttestRequest is the body of POST /attest/{type}. Quote carries SGX and
// TDX evidence; Report carries Open Enclave evidence.
type AttestRequest struct {
	Quote                     string       `json:"quote,omitempty"`
	Report                    string       `json:"report,omitempty"`
	RuntimeData               *RuntimeData `json:"runtimeData,omitempty"`
	InitTimeData              *RuntimeData `json:"initTimeData,omitempty"`
	DraftPolicyForAttestation string       `json:"draftPolicyForAttestation,omitempty"`
	Nonce                     string       `json:"nonce,omitempty"`
}

// TokenResponse is the body returned by attestation and policy calls.
type TokenResponse struct {
	// Token is a JWT.
	Token string `json:"token"`
}

// claimNames lists the claims tokens may carry (for discovery).
var claimNames = []string{
	"x-ms-ver", "x-ms-attestation-type", "x-ms-policy-hash", "x-ms-runtime", "x-ms-inittime",
	"x-ms-sgx-is-debuggable", "x-ms-sgx-mrenclave", "x-ms-sgx-mrsigner", "x-ms-sgx-product-id",
	"x-ms-sgx-svn", "x-ms-sgx-ehd", "x-ms-sgx-report-data", "x-ms-sgx-config-id", "x-ms-sgx-config-svn",
	"x-ms-sgx-isv-extended-product-id", "x-ms-sgx-isv-family-id",
	"tdx_mrtd", "tdx_rtmr0", "tdx_rtmr1", "tdx_rtmr2", "tdx_rtmr3", "tdx_mrconfigid", "tdx_mrowner",
	"tdx_mrownerconfig", "tdx_mrseam", "tdx_mrsignerseam", "tdx_td_attributes", "tdx_td_attributes_debug",
	"tdx_xfam", "tdx_report_data", "tdx_tee_tcb_svn",
	"x-confide-tcb-status", "x-confide-advisory-ids", "x-confide-simulated",
	"nonce", "iss", "iat", "nbf", "exp", "jti",
}

// decodeData decodes runtime or init-time data and, for JSON, parses it.
func decodeData(field string, d *RuntimeData) ([]byte, any, error) {
	if d == nil {
		return nil, nil, nil
	}
	raw, err := decodeB64URL(field+".data", d.Data)
	if err != nil {
		return nil, nil, err
	}
	switch d.DataType {
	case "Binary", "":
		return raw, nil, nil
	case "JSON":
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&v); err != nil || dec.More() {
			return nil, nil, badRequest("%s has dataType JSON but is not one JSON value", field)
		}
		return raw, v, nil
	}
	return nil, nil, badRequest("%s.dataType %q; want Binary or JSON", field, d.DataType)
}

// checkReportData enforces MAA's binding: report data = SHA-256(runtime
// data) followed by 32 zero bytes.
func checkReportData(reportData, runtime []byte) error {
	if len(reportData) != 64 {
		return fmt.Errorf("%w: report data is %d bytes; want 64", ErrRuntimeData, len(reportData))
	}
	h := sha256.Sum256(runtime)
	if subtle.ConstantTimeCompare(h[:], reportData[:32]) != 1 {
		return fmt.Errorf("%w: SHA-256(runtime data) = %x; report data starts %x", ErrRuntimeData, h, reportData[:32])
	}
	for _, b := range reportData[32:] {
		if b != 0 {
			return fmt.Errorf("%w: report data bytes 32..63 are not zero", ErrRuntimeData)
		}
	}
	return nil
}

// tokenClaims maps verified claims to the token's claim set, MAA names.
func tokenClaims(kind string, c *attest.Claims, runtime []byte, runtimeJSON, initJSON any) map[string]any {
	m := map[string]any{
		"x-ms-ver":               "1.0",
		"x-confide-tcb-status":   string(c.TCBStatus),
		"x-confide-advisory-ids": append([]string{}, c.AdvisoryIDs...),
		"x-confide-simulated":    c.Simulated,
	}
	if runtimeJSON != nil {
		m["x-ms-runtime"] = runtimeJSON
	}
	if initJSON != nil {
		m["x-ms-inittime"] = initJSON
	}
	if kind == TypeTdxVm {
		m["x-ms-attestation-type"] = "tdxvm"
		if t := c.TDX; t != nil {
			m["tdx_mrtd"] = hex.EncodeToString(t.MRTD)
			for i := range t.RTMR {
				m[fmt.Sprintf("tdx_rtmr%d", i)] = hex.EncodeToString(t.RTMR[i])
			}
			m["tdx_mrconfigid"] = hex.EncodeToString(t.MRConfigID)
			m["tdx_mrowner"] = hex.EncodeToString(t.MROwner)
			m["tdx_mrownerconfig"] = hex.EncodeToString(t.MROwnerCfg)
			m["tdx_mrseam"] = hex.EncodeToString(t.MRSeam)
			m["tdx_mrsignerseam"] = hex.EncodeToString(t.MRSignerSeam)
			m["tdx_td_attributes"] = hex.EncodeToString(t.TDAttributes)
			m["tdx_xfam"] = hex.EncodeToString(t.XFAM)
			m["tdx_tee_tcb_svn"] = hex.EncodeToString(t.TEETCBSVN)
		}
		m["tdx_td_attributes_debug"] = c.Debug
		m["tdx_report_data"] = hex.EncodeToString(c.ReportData)
		return m
	}
	m["x-ms-attestation-type"] = "sgx"
	m["x-ms-sgx-is-debuggable"] = c.Debug
	m["x-ms-sgx-mrenclave"] = hex.EncodeToString(c.UniqueID)
	m["x-ms-sgx-mrsigner"] = hex.EncodeToString(c.SignerID)
	m["x-ms-sgx-product-id"] = int(c.ProductID)
	m["x-ms-sgx-svn"] = int(c.SecurityVersion)
	m["x-ms-sgx-report-data"] = hex.EncodeToString(c.ReportData)
	if runtime != nil {
		m["x-ms-sgx-ehd"] = b64.EncodeToString(runtime)
	}
	if len(c.ConfigID) > 0 {
		m["x-ms-sgx-config-id"] = hex.EncodeToString(c.ConfigID)
		m["x-ms-sgx-config-svn"] = int(c.ConfigSVN)
	}
	if len(c.ExtendedProductID) > 0 {
		m["x-ms-sgx-isv-extended-product-id"] = hex.EncodeToString(c.ExtendedProductID)
	}
	if len(c.FamilyID) > 0 {
		m["x-ms-sgx-isv-family-id"] = hex.EncodeToString(c.FamilyID)
	}
	return m
}

// policyText returns the stored policy for an attestation type, or the
// default.
func (s *Server) policyText(ctx context.Context, typ string) (string, error) {
	var text string
	err := s.st.queryRow(ctx, `SELECT text FROM policies WHERE type = ?`, typ).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultPolicy, nil
	}
	return text, err
}

func (s *Server) handleAttest(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	typ := r.PathValue("type")
	token, err := s.attest(ctx, r, typ)
	ev := AuditEvent{Action: "attest", Subject: typ, Granted: err == nil, Detail: map[string]string{"remote": r.RemoteAddr}}
	if err != nil {
		ev.Reasons = reasonsOf(err)
		s.metrics.decisions.WithLabelValues("attest", "refused", problemFor(err).Type[len(problemBase):]).Inc()
		if aerr := s.auditOnly(ctx, ev); aerr != nil {
			return aerr
		}
		return err
	}
	s.metrics.decisions.WithLabelValues("attest", "granted", "").Inc()
	writeJSON(w, http.StatusOK, TokenResponse{Token: token})
	return nil
}

// reasonsOf lists the reasons to record for a refusal.
func reasonsOf(err error) []string {
	var de *DeniedError
	if errors.As(err, &de) {
		return de.Reasons
	}
	return []string{err.Error()}
}

// auditOnly appends ev in its own transaction (for refusals, whose action
// wrote nothing else).
func (s *Server) auditOnly(ctx context.Context, ev AuditEvent) error {
	ev.Time = s.now().UTC().Format(time.RFC3339Nano)
	// The refusal is recorded even if the client has gone away.
	ctx = context.WithoutCancel(ctx)
	return s.st.tx(ctx, func(tx *sqlTx) error { return appendAudit(ctx, tx, ev) })
}

func (s *Server) attest(ctx context.Context, r *http.Request, typ string) (string, error) {
	if !attestationTypes[typ] {
		return "", fmt.Errorf("%w: attestation type %q; want SgxEnclave, OpenEnclave or TdxVm", ErrNotFound, typ)
	}
	if err := checkAPIVersion(r, attestAPIVersions); err != nil {
		return "", err
	}
	var req AttestRequest
	if err := decodeBody(r, &req); err != nil {
		return "", err
	}
	field, evidenceText := "quote", req.Quote
	if typ == TypeOpenEnclave {
		field, evidenceText = "report", req.Report
		if req.Quote != "" {
			return "", badRequest("OpenEnclave evidence goes in report, not quote")
		}
	} else if req.Report != "" {
		return "", badRequest("%s evidence goes in quote, not report", typ)
	}
	if evidenceText == "" {
		return "", badRequest("%s is required", field)
	}
	evidence, err := decodeB64URL(field, evidenceText)
	if err != nil {
		return "", err
	}
	runtime, runtimeJSON, err := decodeData("runtimeData", req.RuntimeData)
	if err != nil {
		return "", err
	}
	_, initJSON, err := decodeData("initTimeData", req.InitTimeData)
	if err != nil {
		return "", err
	}
	claims, err := s.verifier.Verify(ctx, typ, evidence)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrEvidence, err)
	}
	if runtime != nil {
		if err := checkReportData(claims.ReportData, runtime); err != nil {
			return "", err
		}
	}
	// Runtime data that names a nonce binds the evidence to it: it must be
	// the nonce of this request (which is then consumed), so a recorded
	// quote cannot be replayed with a fresh nonce.
	if rt, ok := runtimeJSON.(map[string]any); ok {
		if n, has := rt["nonce"]; has && (req.Nonce == "" || n != req.Nonce) {
			return "", fmt.Errorf("%w: runtime data names nonce %v, the request %q", ErrNonce, n, req.Nonce)
		}
	}
	m := tokenClaims(typ, claims, runtime, runtimeJSON, initJSON)

	policy := req.DraftPolicyForAttestation
	draft := policy != ""
	if !draft {
		if policy, err = s.policyText(ctx, typ); err != nil {
			return "", err
		}
	}
	p, err := s.policies.compile(ctx, policy)
	if err != nil {
		return "", err
	}
	d, err := p.eval(ctx, m)
	if err != nil {
		return "", err
	}
	reasons := d.Reasons
	if claims.Simulated && !s.allowSim {
		reasons = append(reasons, "evidence is simulated (x-confide-simulated) and the service does not allow simulated evidence")
	}
	if len(reasons) > 0 {
		return "", &DeniedError{Reasons: reasons}
	}
	for k, v := range d.Claims {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	m["x-ms-policy-hash"] = p.hash
	now := s.now()
	jti := make([]byte, 32)
	if _, err := s.rnd.Read(jti); err != nil {
		return "", err
	}
	m["iss"] = s.issuer
	m["iat"] = now.Unix()
	m["nbf"] = now.Unix()
	m["exp"] = now.Add(s.tokenTTL).Unix()
	jtiHex := hex.EncodeToString(jti)
	m["jti"] = jtiHex
	if req.Nonce != "" {
		m["nonce"] = req.Nonce
	}
	// The decision is recorded (and the nonce consumed) while the token is
	// signed; the token is returned only once both are done.
	wait := s.st.txStart(ctx, func(tx *sqlTx) error {
		if req.Nonce != "" {
			if err := s.consumeNonce(ctx, tx, req.Nonce); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, AuditEvent{
			Time: now.UTC().Format(time.RFC3339Nano), Action: "attest", Subject: typ, Granted: true,
			Detail: map[string]string{"jti": jtiHex, "remote": r.RemoteAddr, "draft": strconv.FormatBool(draft)},
		})
	})
	var token string
	if draft {
		// As MAA does, a draft policy yields an unsecured token: it shows
		// what the policy would issue and is worth nothing to a relying party.
		token, err = unsecuredJWT(m)
	} else {
		token, err = s.sign.sign(m, s.issuer+"/certs", false)
	}
	if werr := wait(); werr != nil {
		return "", werr
	}
	if err != nil {
		// The grant is on record but no token left the service; the caller
		// records the failure after it.
		return "", fmt.Errorf("service: token %s granted but not issued: %w", jtiHex, err)
	}
	return token, nil
}

func unsecuredJWT(claims any) (string, error) {
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(body) + ".", nil
}

// parseUnsecuredJWS decodes the payload of a JWS as MAA's policy APIs send
// it (alg "none", or a signed JWS whose signature is not checked here: the
// admin bearer token authorizes the change).
func parseUnsecuredJWS(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, badRequest("policy body is not a JWS (want header.payload.signature)")
	}
	return decodeB64URL("JWS payload", parts[1])
}
