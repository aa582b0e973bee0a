package service

import (
	"context"
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
		err = st.tx(ctx, func(tx *sql.Tx) error {
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
// headers.
func (k *signingKey) sign(claims any, jku string, x5c bool) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("jku", jku).WithHeader(jose.HeaderKey("kid"), k.kid)
	if x5c {
		opts = opts.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(k.cert.Raw)})
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.priv}, opts)
	if err != nil {
		return "", fmt.Errorf("service: signer: %w", err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("service: sign token: %w", err)
	}
	return tok, nil
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

// verifyJWT checks a compact RS256/ES256/PS256 JWT against the keys in set,
// the issuer and the validity window (one minute of leeway), and returns its
// claims.
func verifyJWT(token string, set *jose.JSONWebKeySet, issuer string, now time.Time) (map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.PS256, jose.ES256, jose.ES384})
	if err != nil {
		return nil, &TokenError{Reason: "malformed", Err: err}
	}
	if len(tok.Headers) != 1 {
		return nil, &TokenError{Reason: "want exactly one signature"}
	}
	var keys []jose.JSONWebKey
	if kid := tok.Headers[0].KeyID; kid != "" {
		keys = set.Key(kid)
	} else {
		keys = set.Keys
	}
	if len(keys) == 0 {
		return nil, &TokenError{Reason: "signed by an unknown key"}
	}
	var std jwt.Claims
	var all map[string]any
	var lastErr error
	for _, k := range keys {
		if lastErr = tok.Claims(k.Key, &std, &all); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, &TokenError{Reason: "bad signature", Err: lastErr}
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, Time: now}, time.Minute); err != nil {
		return nil, &TokenError{Reason: "claims not valid", Err: err}
	}
	if std.Expiry == nil {
		return nil, &TokenError{Reason: "no exp claim"}
	}
	return all, nil
}

// decodeJSONNumbers re-decodes v so numbers are json.Number-free float64 maps
// (Rego and the SKR evaluator see plain JSON values).
func toJSONValue(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}
