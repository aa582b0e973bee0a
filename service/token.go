package service

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signingKey is the service's token signing key and its self-signed
// certificate, published in /certs.
type signingKey struct {
	priv *rsa.PrivateKey
	cert *x509.Certificate
	kid  string
	// headers caches encoded protected headers by headerKey.
	headers sync.Map
}

// loadSigningKey returns the signing key stored (sealed) in the config
// table, generating and storing one on first start. Replicas sharing the
// database and master key share the signing key.
func loadSigningKey(ctx context.Context, st *store, sl *sealer, rnd io.Reader, now time.Time) (*signingKey, error) {
	var blob []byte
	err := st.db.QueryRowContext(ctx, `SELECT value FROM config WHERE name = 'signing-key'`).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("service: signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		sealed, err := sl.seal(der, "config/signing-key")
		zero(der)
		if err != nil {
			return nil, err
		}
		err = st.tx(ctx, func(tx *sqlTx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO config (name, value) VALUES ('signing-key', ?) ON CONFLICT (name) DO NOTHING`, sealed)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("service: signing key: %w", err)
		}
		err = st.db.QueryRowContext(ctx, `SELECT value FROM config WHERE name = 'signing-key'`).Scan(&blob)
		if err != nil {
			return nil, fmt.Errorf("service: signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("service: signing key: %w", err)
	}
	der, err := sl.open(blob, "config/signing-key")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	zero(der)
	if err != nil {
		return nil, fmt.Errorf("service: signing key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("service: signing key is not RSA")
	}
	// The certificate is derived deterministically from the key (serial
	// from the key hash), so every replica publishes the same kid.
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	h := sha256.Sum256(pubDER)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(h[:16]),
		Subject:               pkix.Name{CommonName: "confide attestation service signing key"},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("service: signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, err
	}
	return &signingKey{priv: priv, cert: cert, kid: base64.RawURLEncoding.EncodeToString(h[:])}, nil
}

// jwk returns the public JWK with x5c published in /certs.
func (k *signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig", Certificates: []*x509.Certificate{k.cert}}
}

// sign returns a compact JWS (RS256, typ JWT) over claims with jku and kid
// headers, and the key's certificate in x5c when asked. The JWS is
// assembled here (RFC 7515 compact serialization): the protected header is
// encoded once per (jku, x5c) and the payload with encoding/json.
func (k *signingKey) sign(claims any, jku string, x5c bool) (string, error) {
	hdr, err := k.header(jku, x5c)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("service: sign token: %w", err)
	}
	sigLen := k.priv.Size()
	buf := make([]byte, 0, len(hdr)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(sigLen))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("service: sign token: %w", err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// jwsHeader is the protected header of the service's tokens.
type jwsHeader struct {
	Alg string   `json:"alg"`
	JKU string   `json:"jku"`
	KID string   `json:"kid"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c,omitempty"`
}

type headerKey struct {
	jku string
	x5c bool
}

// header returns the base64url protected header for (jku, x5c).
func (k *signingKey) header(jku string, x5c bool) (string, error) {
	hk := headerKey{jku, x5c}
	if h, ok := k.headers.Load(hk); ok {
		return h.(string), nil
	}
	h := jwsHeader{Alg: string(jose.RS256), JKU: jku, KID: k.kid, Typ: "JWT"}
	if x5c {
		h.X5C = []string{base64.StdEncoding.EncodeToString(k.cert.Raw)}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("service: token header: %w", err)
	}
	enc := b64.EncodeToString(b)
	k.headers.Store(hk, enc)
	return enc, nil
}

// TokenError says why a token was refused.
type TokenError struct {
	// Reason is a lowercase description.
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

func (e *TokenError) Error() string {
	if e.Err != nil {
		return "service: token: " + e.Reason + ": " + e.Err.Error()
	}
	return "service: token: " + e.Reason
}

// Unwrap returns ErrToken.
func (e *TokenError) Unwrap() []error { return []error{ErrToken, e.Err} }

// tokenAlgs are the signature algorithms accepted on release tokens.
var tokenAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.PS256, jose.ES256, jose.ES384}

// parsedToken is a compact JWT split and decoded, not yet verified: its
// claims may be read to find the issuer, and are trusted only after verify.
type parsedToken struct {
	jws    *jose.JSONWebSignature
	claims map[string]any
}

// parseJWT splits and decodes a compact RS256/RS384/PS256/ES256/ES384 JWT
// without checking its signature.
func parseJWT(token string) (*parsedToken, error) {
	jws, err := jose.ParseSignedCompact(token, tokenAlgs)
	if err != nil {
		return nil, &TokenError{Reason: "malformed", Err: err}
	}
	if len(jws.Signatures) != 1 {
		return nil, &TokenError{Reason: "want exactly one signature"}
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims == nil {
		return nil, &TokenError{Reason: "payload is not a JSON object"}
	}
	return &parsedToken{jws: jws, claims: claims}, nil
}

// issuer returns the (unverified) iss claim.
func (t *parsedToken) issuer() (string, error) {
	iss, _ := t.claims["iss"].(string)
	if iss == "" {
		return "", &TokenError{Reason: "payload has no iss"}
	}
	return iss, nil
}

// verify checks the token's signature against the keys in set, the issuer
// and the validity window (one minute of leeway), and returns its claims.
func (t *parsedToken) verify(set *jose.JSONWebKeySet, issuer string, now time.Time) (map[string]any, error) {
	var keys []jose.JSONWebKey
	if kid := t.jws.Signatures[0].Header.KeyID; kid != "" {
		keys = set.Key(kid)
	} else {
		keys = set.Keys
	}
	if len(keys) == 0 {
		return nil, &TokenError{Reason: "signed by an unknown key"}
	}
	var lastErr error
	for _, k := range keys {
		if _, lastErr = t.jws.Verify(k.Key); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, &TokenError{Reason: "bad signature", Err: lastErr}
	}
	std, err := registeredClaims(t.claims)
	if err != nil {
		return nil, &TokenError{Reason: "claims not valid", Err: err}
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, Time: now}, time.Minute); err != nil {
		return nil, &TokenError{Reason: "claims not valid", Err: err}
	}
	if std.Expiry == nil {
		return nil, &TokenError{Reason: "no exp claim"}
	}
	return t.claims, nil
}

// verifyJWT is parseJWT then verify.
func verifyJWT(token string, set *jose.JSONWebKeySet, issuer string, now time.Time) (map[string]any, error) {
	t, err := parseJWT(token)
	if err != nil {
		return nil, err
	}
	return t.verify(set, issuer, now)
}

// registeredClaims reads the RFC 7519 registered claims out of decoded
// claims, as strictly as decoding them into jwt.Claims would: a claim of
// the wrong type is an error, a null one is absent (but a null aud is an
// error, as for go-jose).
func registeredClaims(m map[string]any) (jwt.Claims, error) {
	var c jwt.Claims
	str := func(name string, dst *string) error {
		switch v := m[name].(type) {
		case nil:
		case string:
			*dst = v
		default:
			return fmt.Errorf("claim %s is not a string", name)
		}
		return nil
	}
	date := func(name string, dst **jwt.NumericDate) error {
		switch v := m[name].(type) {
		case nil:
		case float64:
			// The bound of jwt.NumericDate's decoder: beyond it the
			// conversion to time overflows.
			if v >= 1<<62 || v <= -(1<<62) {
				return fmt.Errorf("claim %s: %w", name, jwt.ErrUnmarshalNumericDate)
			}
			d := jwt.NumericDate(v)
			*dst = &d
		default:
			return fmt.Errorf("claim %s: %w", name, jwt.ErrUnmarshalNumericDate)
		}
		return nil
	}
	if err := errors.Join(str("iss", &c.Issuer), str("sub", &c.Subject), str("jti", &c.ID),
		date("exp", &c.Expiry), date("nbf", &c.NotBefore), date("iat", &c.IssuedAt)); err != nil {
		return c, err
	}
	aud, ok := m["aud"]
	if !ok {
		return c, nil
	}
	switch v := aud.(type) {
	case string:
		c.Audience = jwt.Audience{v}
	case []any:
		c.Audience = make(jwt.Audience, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return c, jwt.ErrUnmarshalAudience
			}
			c.Audience[i] = s
		}
	default: // null included, as jwt.Audience's decoder has it
		return c, jwt.ErrUnmarshalAudience
	}
	return c, nil
}
