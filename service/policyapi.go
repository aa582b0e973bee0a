package service

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StoredPolicy is the JWS payload of MAA's policy documents.
type StoredPolicy struct {
	// AttestationPolicy is the base64url policy text.
	AttestationPolicy string `json:"AttestationPolicy"`
}

func (s *Server) handlePolicyGet(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPIVersion(r, attestAPIVersions); err != nil {
		return err
	}
	typ := r.PathValue("type")
	if !attestationTypes[typ] {
		return fmt.Errorf("%w: attestation type %q", ErrNotFound, typ)
	}
	text, err := s.policyText(r.Context(), typ)
	if err != nil {
		return err
	}
	inner, err := unsecuredJWT(StoredPolicy{AttestationPolicy: b64.EncodeToString([]byte(text))})
	if err != nil {
		return err
	}
	now := s.now()
	tok, err := s.sign.sign(map[string]any{"x-ms-policy": inner, "iss": s.issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.tokenTTL).Unix()}, s.issuer+"/certs", false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok})
	return nil
}

// readPolicyBody reads a PUT /policies body: a JWS whose payload is
// {"AttestationPolicy": base64url(text)}.
func readPolicyBody(r *http.Request) (jws string, text string, err error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", "", fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, mbe.Limit)
		}
		return "", "", badRequest("reading body: %v", err)
	}
	jws = strings.TrimSpace(string(b))
	payload, err := parseUnsecuredJWS(jws)
	if err != nil {
		return "", "", err
	}
	var sp StoredPolicy
	if err := decodeJSON(payload, &sp); err != nil {
		return "", "", err
	}
	t, err := decodeB64URL("AttestationPolicy", sp.AttestationPolicy)
	if err != nil {
		return "", "", err
	}
	return jws, string(t), nil
}

func (s *Server) handlePolicyPut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := checkAPIVersion(r, attestAPIVersions); err != nil {
		return err
	}
	typ := r.PathValue("type")
	if !attestationTypes[typ] {
		return fmt.Errorf("%w: attestation type %q", ErrNotFound, typ)
	}
	jws, text, err := readPolicyBody(r)
	if err == nil {
		_, err = s.policies.compile(ctx, text)
	}
	if err != nil {
		if aerr := s.auditOnly(ctx, AuditEvent{Action: "put-policy", Subject: typ, Reasons: reasonsOf(err)}); aerr != nil {
			return aerr
		}
		return err
	}
	now := s.now()
	err = s.st.tx(ctx, func(tx *sqlTx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (type, text, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (type) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at`, typ, text, now.Unix()); err != nil {
			return err
		}
		h := sha256.Sum256([]byte(text))
		return appendAudit(ctx, tx, AuditEvent{Time: now.UTC().Format(time.RFC3339Nano), Action: "put-policy", Subject: typ, Granted: true,
			Detail: map[string]string{"policy-sha256": fmt.Sprintf("%x", h)}})
	})
	if err != nil {
		return err
	}
	return s.policyResult(w, "Updated", jws)
}

func (s *Server) policyResult(w http.ResponseWriter, result, jws string) error {
	h := sha256.Sum256([]byte(jws))
	now := s.now()
	tok, err := s.sign.sign(map[string]any{
		"x-ms-policy-result": result, "x-ms-policy-token-hash": b64.EncodeToString(h[:]),
		"iss": s.issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.tokenTTL).Unix(),
	}, s.issuer+"/certs", false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok})
	return nil
}

// handlePolicyReset serves POST /policies/{type}:reset.
func (s *Server) handlePolicyReset(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	typ, ok := strings.CutSuffix(r.PathValue("type"), ":reset")
	if !ok {
		return fmt.Errorf("%w: POST /policies/%s (want /policies/{type}:reset)", ErrNotFound, r.PathValue("type"))
	}
	if err := checkAPIVersion(r, attestAPIVersions); err != nil {
		return err
	}
	if !attestationTypes[typ] {
		return fmt.Errorf("%w: attestation type %q", ErrNotFound, typ)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	now := s.now()
	err = s.st.tx(ctx, func(tx *sqlTx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE type = ?`, typ); err != nil {
			return err
		}
		return appendAudit(ctx, tx, AuditEvent{Time: now.UTC().Format(time.RFC3339Nano), Action: "reset-policy", Subject: typ, Granted: true})
	})
	if err != nil {
		return err
	}
	return s.policyResult(w, "Removed", strings.TrimSpace(string(b)))
}
