package service

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/confide-dev/confide/service/skr"
)

// Release policy content types.
const (
	// PolicyJSON is the Key Vault SKR JSON grammar.
	PolicyJSON = "application/json; charset=utf-8"
	// PolicyRego is a Rego module in package policy with deny rules over
	// the token claims; tokens must come from this service or a trusted
	// authority.
	PolicyRego = "application/rego"
)

// ReleasePolicy is a key's or secret's release policy as Key Vault sends it.
type ReleasePolicy struct {
	// ContentType is PolicyJSON (the default) or PolicyRego.
	ContentType string `json:"contentType,omitempty"`
	// Data is the base64url policy text.
	Data string `json:"data"`
	// Immutable is accepted for compatibility and recorded.
	Immutable bool `json:"immutable,omitempty"`
}

// KeyAttributes are a key's attributes.
type KeyAttributes struct {
	Enabled    bool   `json:"enabled"`
	Exportable bool   `json:"exportable"`
	Created    int64  `json:"created,omitempty"`
	Updated    int64  `json:"updated,omitempty"`
	Recovery   string `json:"recoveryLevel,omitempty"`
}

// CreateKeyRequest is the body of PUT /keys/{name}.
type CreateKeyRequest struct {
	// Kty is "RSA", "RSA-HSM", "EC", "EC-HSM", "oct" or "oct-HSM".
	Kty string `json:"kty"`
	// KeySize is 2048 or 3072 for RSA, 256 for oct.
	KeySize int `json:"key_size,omitempty"`
	// Crv is "P-256" or "P-384" for EC.
	Crv string `json:"crv,omitempty"`
	// KeyOps are recorded and echoed.
	KeyOps []string `json:"key_ops,omitempty"`
	// Attributes must have exportable true (release needs it).
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// ReleasePolicy is required.
	ReleasePolicy *ReleasePolicy `json:"release_policy"`
}

// KeyBundle is the key metadata returned by PUT and GET /keys; it never
// carries private or symmetric key material.
type KeyBundle struct {
	Key           map[string]any `json:"key"`
	Attributes    KeyAttributes  `json:"attributes"`
	ReleasePolicy *ReleasePolicy `json:"release_policy"`
}

// ReleaseRequest is the body of POST /keys/{name}/release.
type ReleaseRequest struct {
	// Target is the attestation token.
	Target string `json:"target"`
	// Nonce is echoed in the response.
	Nonce string `json:"nonce,omitempty"`
	// Enc is the wrapping algorithm asked for: empty, CKM_RSA_AES_KEY_WRAP,
	// RSA_AES_KEY_WRAP_256 or an HPKE suite; it must match the target key.
	Enc string `json:"enc,omitempty"`
}

// ReleaseResponse is the body of a release: value is a JWS (RS256, x5c)
// whose payload holds the request echo and the wrapped key.
type ReleaseResponse struct {
	Value string `json:"value"`
}

var nameOK = func(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkPolicy validates a release policy and returns its decoded text.
func (s *Server) checkPolicy(ctx context.Context, p *ReleasePolicy) (string, []byte, error) {
	if p == nil {
		return "", nil, badRequest("release_policy is required")
	}
	text, err := decodeB64URL("release_policy.data", p.Data)
	if err != nil {
		return "", nil, err
	}
	ct := p.ContentType
	switch strings.ToLower(strings.ReplaceAll(ct, " ", "")) {
	case "", "application/json", "application/json;charset=utf-8":
		if _, err := skr.ParsePolicy(text); err != nil {
			return "", nil, err
		}
		return PolicyJSON, text, nil
	case PolicyRego, "application/x-rego":
		if _, err := s.policies.compile(ctx, string(text)); err != nil {
			return "", nil, err
		}
		return PolicyRego, text, nil
	}
	return "", nil, fmt.Errorf("%w: release_policy.contentType %q", skr.ErrPolicy, ct)
}

func (s *Server) newVersion() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// generateKey creates key material: PKCS#8 DER for RSA and EC, raw bytes
// for oct. It returns the material and the public JWK fields.
func generateKey(req *CreateKeyRequest) (kty string, material []byte, pub map[string]any, err error) {
	switch req.Kty {
	case "RSA", "RSA-HSM":
		if req.KeySize == 0 {
			req.KeySize = 2048
		}
		if req.KeySize != 2048 && req.KeySize != 3072 {
			return "", nil, nil, badRequest("RSA key_size %d; want 2048 or 3072", req.KeySize)
		}
		k, err := rsa.GenerateKey(randReader, req.KeySize)
		if err != nil {
			return "", nil, nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", nil, nil, err
		}
		return req.Kty, der, publicJWK(&k.PublicKey), nil
	case "EC", "EC-HSM":
		var c elliptic.Curve
		switch req.Crv {
		case "P-256", "":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		default:
			return "", nil, nil, badRequest("EC crv %q; want P-256 or P-384", req.Crv)
		}
		k, err := ecdsa.GenerateKey(c, randReader)
		if err != nil {
			return "", nil, nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", nil, nil, err
		}
		return req.Kty, der, publicJWK(&k.PublicKey), nil
	case "oct", "oct-HSM":
		if req.KeySize == 0 {
			req.KeySize = 256
		}
		if req.KeySize != 256 {
			return "", nil, nil, badRequest("oct key_size %d; want 256", req.KeySize)
		}
		k := make([]byte, 32)
		if _, err := io.ReadFull(randReader, k); err != nil {
			return "", nil, nil, err
		}
		return req.Kty, k, map[string]any{}, nil
	}
	return "", nil, nil, badRequest("kty %q; want RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM", req.Kty)
}

func publicJWK(pub crypto.PublicKey) map[string]any {
	b, _ := json.Marshal(jose.JSONWebKey{Key: pub})
	var m map[string]any
	json.Unmarshal(b, &m)
	delete(m, "kty")
	return m
}

func (s *Server) handleKeyPut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	bundle, err := s.createKey(ctx, r, name)
	if err != nil {
		if aerr := s.auditOnly(ctx, AuditEvent{Action: "put-key", Subject: name, Reasons: reasonsOf(err)}); aerr != nil {
			return aerr
		}
		return err
	}
	writeJSON(w, http.StatusOK, bundle)
	return nil
}

func (s *Server) createKey(ctx context.Context, r *http.Request, name string) (*KeyBundle, error) {
	if err := checkAPIVersion(r, vaultAPIVersions); err != nil {
		return nil, err
	}
	if !nameOK(name) {
		return nil, badRequest("key name %q; want 1-127 letters, digits and dashes", name)
	}
	var req CreateKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Attributes != nil && !req.Attributes.Exportable {
		return nil, badRequest("attributes.exportable must be true for a key with a release policy")
	}
	ctype, policy, err := s.checkPolicy(ctx, req.ReleasePolicy)
	if err != nil {
		return nil, err
	}
	kty, material, pub, err := generateKey(&req)
	if err != nil {
		return nil, err
	}
	defer zero(material)
	version, err := s.newVersion()
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.seal(material, "keys/"+name+"/"+version)
	if err != nil {
		return nil, err
	}
	pubJSON, _ := json.Marshal(pub)
	now := s.now()
	err = s.st.tx(ctx, func(tx *sqlTx) error {
		created, err := nextCreated(ctx, tx, "keys", name, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys (name, version, kty, created, policy_type, policy, public, material) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			name, version, kty, created, ctype, policy, pubJSON, sealed); err != nil {
			return err
		}
		return appendAudit(ctx, tx, AuditEvent{Time: now.UTC().Format(time.RFC3339Nano), Action: "put-key", Subject: name, Granted: true,
			Detail: map[string]string{"version": version, "kty": kty}})
	})
	if err != nil {
		return nil, err
	}
	return s.bundle(name, version, kty, now.Unix(), ctype, policy, pubJSON), nil
}

func (s *Server) bundle(name, version, kty string, created int64, ctype string, policy, pubJSON []byte) *KeyBundle {
	key := map[string]any{}
	json.Unmarshal(pubJSON, &key)
	key["kid"] = s.issuer + "/keys/" + name + "/" + version
	key["kty"] = kty
	return &KeyBundle{
		Key:           key,
		Attributes:    KeyAttributes{Enabled: true, Exportable: true, Created: created, Updated: created, Recovery: "Purgeable"},
		ReleasePolicy: &ReleasePolicy{ContentType: ctype, Data: b64.EncodeToString(policy)},
	}
}

type keyRow struct {
	name, version, kty, ptype string
	created                   int64
	policy, pub, sealed       []byte
}

func (s *Server) loadKey(ctx context.Context, table, name, version string) (*keyRow, error) {
	q := `SELECT version, kty, created, policy_type, policy, public, material FROM keys WHERE name = ?`
	if table == "secrets" {
		q = `SELECT version, 'secret', created, policy_type, policy, NULL, value FROM secrets WHERE name = ?`
	}
	args := []any{name}
	if version != "" {
		q += ` AND version = ?`
		args = append(args, version)
	}
	q += ` ORDER BY created DESC LIMIT 1`
	k := &keyRow{name: name}
	err := s.st.queryRow(ctx, q, args...).Scan(&k.version, &k.kty, &k.created, &k.ptype, &k.policy, &k.pub, &k.sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s %s %s", ErrNotFound, strings.TrimSuffix(table, "s"), name, version)
	}
	return k, err
}

func (s *Server) handleKeyGet(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPIVersion(r, vaultAPIVersions); err != nil {
		return err
	}
	k, err := s.loadKey(r.Context(), "keys", r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.bundle(k.name, k.version, k.kty, k.created/1e9, k.ptype, k.policy, k.pub))
	return nil
}

func (s *Server) handleKeyRelease(w http.ResponseWriter, r *http.Request) error {
	return s.release(w, r, "keys")
}

func (s *Server) handleSecretRelease(w http.ResponseWriter, r *http.Request) error {
	return s.release(w, r, "secrets")
}

func (s *Server) release(w http.ResponseWriter, r *http.Request, table string) error {
	ctx := r.Context()
	name, version := r.PathValue("name"), r.PathValue("version")
	action := "release-key"
	if table == "secrets" {
		action = "release-secret"
	}
	refuse := func(kv string, err error) error {
		s.metrics.decisions.WithLabelValues(action, "refused", problemFor(err).Type[len(problemBase):]).Inc()
		if aerr := s.auditOnly(ctx, AuditEvent{Action: action, Subject: name, Reasons: reasonsOf(err),
			Detail: map[string]string{"version": kv, "remote": r.RemoteAddr}}); aerr != nil {
			return aerr
		}
		return err
	}
	payload, kv, err := s.releaseValue(ctx, r, table, name, version)
	if err != nil {
		return refuse(version, err)
	}
	// The release is recorded while the response is signed; the response
	// goes out only once both are done.
	now := s.now()
	wait := s.st.txStart(ctx, func(tx *sqlTx) error {
		return appendAudit(ctx, tx, AuditEvent{Time: now.UTC().Format(time.RFC3339Nano), Action: action, Subject: name, Granted: true,
			Detail: map[string]string{"version": kv, "remote": r.RemoteAddr}})
	})
	value, err := s.sign.sign(payload, s.issuer+"/certs", true)
	if werr := wait(); werr != nil {
		return werr
	}
	if err != nil {
		// The grant is on record but nothing left the service: record that.
		return refuse(kv, fmt.Errorf("service: release granted but not issued: %w", err))
	}
	s.metrics.decisions.WithLabelValues(action, "granted", "").Inc()
	writeJSON(w, http.StatusOK, ReleaseResponse{Value: value})
	return nil
}

// releaseValue does everything but the audit and the signature: verify the
// token, evaluate the policy, wrap the material and build the response
// payload to sign.
func (s *Server) releaseValue(ctx context.Context, r *http.Request, table, name, version string) (map[string]any, string, error) {
	if err := checkAPIVersion(r, vaultAPIVersions); err != nil {
		return nil, version, err
	}
	var req ReleaseRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, version, err
	}
	if req.Target == "" {
		return nil, version, badRequest("target (the attestation token) is required")
	}
	k, err := s.loadKey(ctx, table, name, version)
	if err != nil {
		return nil, version, err
	}
	issuer, claims, err := s.verifyTarget(ctx, req.Target, k)
	if err != nil {
		return nil, k.version, err
	}
	if err := s.evaluateRelease(ctx, k, issuer, claims); err != nil {
		return nil, k.version, err
	}
	target, kid, err := targetKey(claims)
	if err != nil {
		return nil, k.version, err
	}
	material, err := s.sealer.open(k.sealed, table+"/"+k.name+"/"+k.version)
	if err != nil {
		return nil, k.version, err
	}
	defer zero(material)
	wrapped, err := skr.Wrap(target, kid, material)
	if err != nil {
		return nil, k.version, err
	}
	if req.Enc != "" && !encMatches(req.Enc, wrapped.Header.Enc) {
		return nil, k.version, badRequest("enc %q does not match the target key (would use %s)", req.Enc, wrapped.Header.Enc)
	}
	id := s.issuer + "/" + table + "/" + k.name + "/" + k.version
	var resp map[string]any
	if table == "keys" {
		resp = map[string]any{"key": map[string]any{
			"attributes":     KeyAttributes{Enabled: true, Exportable: true, Created: k.created / 1e9, Updated: k.created / 1e9, Recovery: "Purgeable"},
			"key":            map[string]any{"kid": id, "kty": k.kty, "key_hsm": wrapped.Encode()},
			"release_policy": ReleasePolicy{ContentType: k.ptype, Data: b64.EncodeToString(k.policy)},
		}}
	} else {
		resp = map[string]any{"secret": map[string]any{"id": id, "value_hsm": wrapped.Encode()}}
	}
	payload := map[string]any{
		"request":  map[string]any{"api-version": r.URL.Query().Get("api-version"), "enc": wrapped.Header.Enc, "kid": id, "nonce": req.Nonce},
		"response": resp,
	}
	return payload, k.version, nil
}

func encMatches(asked, used string) bool {
	switch asked {
	case "CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256":
		return used == skr.AlgRSAAESKeyWrap
	}
	return asked == used
}

// targetKey returns the first key in x-ms-runtime.keys (a JWK set, as MAA
// puts the enclave's runtime keys).
func targetKey(claims map[string]any) (crypto.PublicKey, string, error) {
	rt, _ := claims["x-ms-runtime"].(map[string]any)
	keys, _ := rt["keys"].([]any)
	if len(keys) == 0 {
		return nil, "", fmt.Errorf("%w: token has no x-ms-runtime.keys", skr.ErrTargetKey)
	}
	b, _ := json.Marshal(keys[0])
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err != nil {
		return nil, "", fmt.Errorf("%w: x-ms-runtime.keys[0]: %v", skr.ErrTargetKey, err)
	}
	if !jwk.IsPublic() {
		return nil, "", fmt.Errorf("%w: x-ms-runtime.keys[0] is not a public key", skr.ErrTargetKey)
	}
	return jwk.Key, jwk.KeyID, nil
}

// verifyTarget verifies the release token against its issuer: this
// service, or a trusted authority that the key's policy names.
func (s *Server) verifyTarget(ctx context.Context, token string, k *keyRow) (string, map[string]any, error) {
	t, err := parseJWT(token)
	if err != nil {
		return "", nil, err
	}
	issuer, err := t.issuer()
	if err != nil {
		return "", nil, err
	}
	issuer = skr.NormalizeAuthority(issuer)
	if issuer == s.issuer {
		claims, err := t.verify(s.ownKeys, s.issuer, s.now())
		return issuer, claims, err
	}
	if !s.trusted[issuer] {
		return "", nil, &TokenError{Reason: fmt.Sprintf("issuer %s is not trusted by this service", issuer)}
	}
	if k.ptype == PolicyJSON {
		p, err := s.releasePolicies.parse(k.policy)
		if err != nil {
			return "", nil, err
		}
		named := false
		for _, a := range p.Authorities() {
			named = named || a == issuer
		}
		if !named {
			return "", nil, &TokenError{Reason: fmt.Sprintf("issuer %s is not an authority of the release policy", issuer)}
		}
	}
	set, err := s.fetchJWKS(ctx, issuer)
	if err != nil {
		return "", nil, err
	}
	claims, err := t.verify(set, issuer, s.now())
	return issuer, claims, err
}

// releasePolicyCache holds parsed JSON release policies keyed by their
// text (release policies are immutable per key version), so a policy is
// parsed once rather than on every release.
type releasePolicyCache struct {
	mu sync.Mutex
	m  map[string]*skr.Policy
}

func (c *releasePolicyCache) parse(text []byte) (*skr.Policy, error) {
	c.mu.Lock()
	p, ok := c.m[string(text)]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := skr.ParsePolicy(text)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]*skr.Policy)
	}
	if len(c.m) > 256 { // bounded: drop everything rather than grow forever
		clear(c.m)
	}
	c.m[string(text)] = p
	c.mu.Unlock()
	return p, nil
}

// fetchJWKS finds an issuer's keys by OIDC discovery, caching them for
// five minutes.
func (s *Server) fetchJWKS(ctx context.Context, issuer string) (*jose.JSONWebKeySet, error) {
	s.jwksMu.Lock()
	c, ok := s.jwks[issuer]
	s.jwksMu.Unlock()
	if ok && s.now().Sub(c.fetched) < 5*time.Minute {
		return c.set, nil
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, issuer+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, &TokenError{Reason: "discovery for " + issuer, Err: err}
	}
	if skr.NormalizeAuthority(disc.Issuer) != issuer || disc.JWKSURI == "" {
		return nil, &TokenError{Reason: fmt.Sprintf("discovery document of %s names issuer %q", issuer, disc.Issuer)}
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, &TokenError{Reason: "jwks for " + issuer, Err: err}
	}
	s.jwksMu.Lock()
	s.jwks[issuer] = cachedJWKS{set: &set, fetched: s.now()}
	s.jwksMu.Unlock()
	return &set, nil
}

func (s *Server) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// evaluateRelease applies the key's release policy to verified claims.
func (s *Server) evaluateRelease(ctx context.Context, k *keyRow, issuer string, claims map[string]any) error {
	var reasons []string
	switch k.ptype {
	case PolicyJSON:
		p, err := s.releasePolicies.parse(k.policy)
		if err != nil {
			return err
		}
		reasons = p.Evaluate(issuer, claims)
	case PolicyRego:
		d, err := s.policies.eval(ctx, string(k.policy), claims)
		if err != nil {
			return err
		}
		reasons = d.Reasons
	default:
		return fmt.Errorf("service: stored policy type %q", k.ptype)
	}
	if len(reasons) > 0 {
		return &DeniedError{Reasons: reasons}
	}
	return nil
}

// CreateSecretRequest is the body of PUT /secrets/{name}.
type CreateSecretRequest struct {
	// Value is the secret (a string, as in Key Vault).
	Value string `json:"value"`
	// ContentType is recorded.
	ContentType string `json:"contentType,omitempty"`
	// ReleasePolicy is required.
	ReleasePolicy *ReleasePolicy `json:"release_policy"`
}

// SecretBundle is secret metadata; it never carries the value.
type SecretBundle struct {
	ID            string         `json:"id"`
	Attributes    KeyAttributes  `json:"attributes"`
	ReleasePolicy *ReleasePolicy `json:"release_policy"`
}

func (s *Server) handleSecretPut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	b, err := s.createSecret(ctx, r, name)
	if err != nil {
		if aerr := s.auditOnly(ctx, AuditEvent{Action: "put-secret", Subject: name, Reasons: reasonsOf(err)}); aerr != nil {
			return aerr
		}
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) createSecret(ctx context.Context, r *http.Request, name string) (*SecretBundle, error) {
	if err := checkAPIVersion(r, vaultAPIVersions); err != nil {
		return nil, err
	}
	if !nameOK(name) {
		return nil, badRequest("secret name %q; want 1-127 letters, digits and dashes", name)
	}
	var req CreateSecretRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Value == "" {
		return nil, badRequest("value is required")
	}
	ctype, policy, err := s.checkPolicy(ctx, req.ReleasePolicy)
	if err != nil {
		return nil, err
	}
	version, err := s.newVersion()
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.seal([]byte(req.Value), "secrets/"+name+"/"+version)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.st.tx(ctx, func(tx *sqlTx) error {
		created, err := nextCreated(ctx, tx, "secrets", name, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, version, created, policy_type, policy, value) VALUES (?, ?, ?, ?, ?, ?)`,
			name, version, created, ctype, policy, sealed); err != nil {
			return err
		}
		return appendAudit(ctx, tx, AuditEvent{Time: now.UTC().Format(time.RFC3339Nano), Action: "put-secret", Subject: name, Granted: true,
			Detail: map[string]string{"version": version}})
	})
	if err != nil {
		return nil, err
	}
	return &SecretBundle{ID: s.issuer + "/secrets/" + name + "/" + version,
		Attributes:    KeyAttributes{Enabled: true, Exportable: true, Created: now.Unix(), Updated: now.Unix()},
		ReleasePolicy: &ReleasePolicy{ContentType: ctype, Data: b64.EncodeToString(policy)}}, nil
}

func (s *Server) handleSecretGet(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPIVersion(r, vaultAPIVersions); err != nil {
		return err
	}
	k, err := s.loadKey(r.Context(), "secrets", r.PathValue("name"), "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &SecretBundle{ID: s.issuer + "/secrets/" + k.name + "/" + k.version,
		Attributes:    KeyAttributes{Enabled: true, Exportable: true, Created: k.created / 1e9, Updated: k.created / 1e9},
		ReleasePolicy: &ReleasePolicy{ContentType: k.ptype, Data: b64.EncodeToString(k.policy)}})
	return nil
}

// nextCreated returns the creation stamp (Unix ns) for a new version of
// name: now, or one past the newest existing version when the clock has not
// moved on, so "latest version" is always the last one created.
func nextCreated(ctx context.Context, tx *sqlTx, table, name string, now time.Time) (int64, error) {
	var last int64
	q := `SELECT COALESCE(MAX(created), 0) FROM keys WHERE name = ?`
	if table == "secrets" {
		q = `SELECT COALESCE(MAX(created), 0) FROM secrets WHERE name = ?`
	}
	if err := tx.QueryRowContext(ctx, q, name).Scan(&last); err != nil {
		return 0, err
	}
	return max(now.UnixNano(), last+1), nil
}
