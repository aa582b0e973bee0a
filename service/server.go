package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Supported api-version values.
var (
	attestAPIVersions = map[string]bool{"2020-10-01": true, "2022-08-01": true}
	vaultAPIVersions  = map[string]bool{"7.4": true}
)

// Options configure a Server.
type Options struct {
	// DataDir holds the SQLite database, master.key and admin.token.
	// Required.
	DataDir string
	// DatabaseURL, when set (postgres://...), stores state in PostgreSQL
	// instead of the SQLite file in DataDir; DataDir still holds the master
	// key and admin token, which replicas must share. Zero: SQLite.
	DatabaseURL string
	// Verifier verifies evidence. Required.
	Verifier Verifier
	// Issuer is the service's external base URL (e.g.
	// "https://attest.example:8443"), used as the token iss and to build
	// jku. Required.
	Issuer string
	// AllowSimulated lets evidence with Simulated claims pass appraisal.
	// Zero: simulated evidence is refused.
	AllowSimulated bool
	// TokenLifetime is how long tokens are valid. Zero: 8 hours.
	TokenLifetime time.Duration
	// NonceLifetime is how long a nonce from GET /nonce stays usable.
	// Zero: 5 minutes.
	NonceLifetime time.Duration
	// TrustedAuthorities lists other issuers whose tokens release
	// policies may name; their keys are found by OIDC discovery. Zero:
	// only this service's own tokens are accepted.
	TrustedAuthorities []string
	// HTTPClient fetches other issuers' discovery documents and JWKS.
	// Zero: a client with a 10 s timeout.
	HTTPClient *http.Client
	// AdminToken is the bearer credential for management endpoints. Zero:
	// read from DataDir/admin.token, created at first start.
	AdminToken string
	// MaxBodyBytes caps request bodies. Zero: 1 MiB.
	MaxBodyBytes int64
	// Now returns the current time. Zero: time.Now.
	Now func() time.Time
	// Rand is the randomness source for nonces, versions and sealing.
	// Zero: crypto/rand.Reader.
	Rand io.Reader
	// Logger receives structured logs. Zero: slog.Default().
	Logger *slog.Logger
}

// Server is the attestation service and key broker. It is an http.Handler.
type Server struct {
	st       *store
	sealer   *sealer
	sign     *signingKey
	verifier Verifier
	issuer   string
	allowSim bool
	tokenTTL time.Duration
	nonceTTL time.Duration
	trusted  map[string]bool
	hc       *http.Client
	admin    string
	maxBody  int64
	now      func() time.Time
	rnd      io.Reader
	log      *slog.Logger
	policies policyCache
	// releasePolicies caches parsed JSON release policies.
	releasePolicies releasePolicyCache
	// ownKeys is JWKS(), kept for verifying the service's own tokens.
	ownKeys *jose.JSONWebKeySet
	mux     *http.ServeMux
	metrics *metrics

	jwksMu sync.Mutex
	jwks   map[string]cachedJWKS
}

type cachedJWKS struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "confide_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "confide_decisions_total", Help: "Attestation and release decisions by action, outcome and reason."}, []string{"action", "outcome", "reason"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "confide_request_seconds", Help: "Request latency by route.", Buckets: prometheus.DefBuckets}, []string{"route"})
	m.reg.MustRegister(m.requests, m.decisions, m.latency)
	return m
}

// New opens (creating if needed) the database and keys in opts.DataDir and
// returns a Server. Close it when done.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" || opts.Verifier == nil || opts.Issuer == "" {
		return nil, errors.New("service: Options.DataDir, Verifier and Issuer are required")
	}
	s := &Server{
		verifier: opts.Verifier,
		issuer:   strings.TrimRight(opts.Issuer, "/"),
		allowSim: opts.AllowSimulated,
		tokenTTL: opts.TokenLifetime,
		nonceTTL: opts.NonceLifetime,
		trusted:  map[string]bool{},
		hc:       opts.HTTPClient,
		admin:    opts.AdminToken,
		maxBody:  opts.MaxBodyBytes,
		now:      opts.Now,
		rnd:      opts.Rand,
		log:      opts.Logger,
		metrics:  newMetrics(),
		jwks:     map[string]cachedJWKS{},
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = 8 * time.Hour
	}
	if s.nonceTTL <= 0 {
		s.nonceTTL = 5 * time.Minute
	}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rnd == nil {
		s.rnd = rand.Reader
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, a := range opts.TrustedAuthorities {
		s.trusted[strings.TrimRight(a, "/")] = true
	}
	mk, err := loadMasterKey(opts.DataDir, s.rnd)
	if err != nil {
		return nil, err
	}
	s.sealer, err = newSealer(mk, s.rnd)
	zero(mk)
	if err != nil {
		return nil, err
	}
	if s.admin == "" {
		if s.admin, err = loadAdminToken(opts.DataDir, s.rnd); err != nil {
			return nil, err
		}
	}
	if s.st, err = openStore(ctx, opts.DataDir, opts.DatabaseURL); err != nil {
		return nil, err
	}
	if s.sign, err = loadSigningKey(ctx, s.st, s.sealer, s.rnd, s.now()); err != nil {
		s.st.Close()
		return nil, err
	}
	s.ownKeys = s.JWKS()
	if _, err := s.policies.compile(ctx, DefaultPolicy); err != nil {
		s.st.Close()
		return nil, err
	}
	s.routes()
	return s, nil
}

// Close closes the database.
func (s *Server) Close() error { return s.st.Close() }

// Issuer returns the token issuer (the service's base URL).
func (s *Server) Issuer() string { return s.issuer }

// AdminToken returns the admin bearer credential.
func (s *Server) AdminToken() string { return s.admin }

// JWKS returns the public signing keys, as served at /certs.
func (s *Server) JWKS() *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.sign.jwk()}}
}

// VerifyAudit checks the audit chain in the server's database.
func (s *Server) VerifyAudit(ctx context.Context) (*AuditReport, error) { return s.st.verifyAudit(ctx) }

// handler is an HTTP handler that returns an error to be rendered as
// problem+json.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	h := func(pattern, route string, fn handler) {
		s.mux.Handle(pattern, s.wrap(route, fn))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.st.db.PingContext(r.Context()); err != nil {
			writeProblem(w, Problem{Type: problemBase + "unhealthy", Title: "Database unavailable", Status: http.StatusServiceUnavailable})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	h("GET /certs", "certs", s.handleCerts)
	h("GET /.well-known/openid-configuration", "openid", s.handleOpenID)
	h("GET /nonce", "nonce", s.handleNonce)
	h("POST /attest/{type}", "attest", s.handleAttest)
	h("GET /policies/{type}", "policy-get", s.handlePolicyGet)
	h("PUT /policies/{type}", "policy-put", s.requireAdmin(s.handlePolicyPut))
	h("POST /policies/{type}", "policy-reset", s.requireAdmin(s.handlePolicyReset))
	h("PUT /keys/{name}", "key-put", s.requireAdmin(s.handleKeyPut))
	h("GET /keys/{name}", "key-get", s.handleKeyGet)
	h("GET /keys/{name}/{version}", "key-get", s.handleKeyGet)
	h("POST /keys/{name}/release", "key-release", s.handleKeyRelease)
	h("POST /keys/{name}/{version}/release", "key-release", s.handleKeyRelease)
	h("PUT /secrets/{name}", "secret-put", s.requireAdmin(s.handleSecretPut))
	h("GET /secrets/{name}", "secret-get", s.handleSecretGet)
	h("POST /secrets/{name}/release", "secret-release", s.handleSecretRelease)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: problemBase + "not-found", Title: "Not found", Status: http.StatusNotFound, Detail: "service: no route for " + r.Method + " " + r.URL.Path})
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) wrap(route string, fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r.Body = http.MaxBytesReader(sw, r.Body, s.maxBody)
		if err := fn(sw, r); err != nil {
			p := problemFor(err)
			level := slog.LevelInfo
			if p.Status >= 500 {
				level = slog.LevelError
			}
			s.log.Log(r.Context(), level, "request failed", "route", route, "method", r.Method, "path", r.URL.Path, "status", p.Status, "err", err.Error())
			writeProblem(sw, p)
		}
		el := time.Since(start)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(el.Seconds())
		s.log.Debug("request", "route", route, "method", r.Method, "status", sw.code, "duration", el, "remote", r.RemoteAddr)
	})
}

func (s *Server) requireAdmin(fn handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.admin)) != 1 {
			err := fmt.Errorf("%w: management endpoints need \"Authorization: Bearer <admin token>\"", ErrUnauthorized)
			if aerr := s.auditOnly(r.Context(), AuditEvent{Action: "admin", Subject: r.Method + " " + r.URL.Path, Reasons: []string{err.Error()},
				Detail: map[string]string{"remote": r.RemoteAddr}}); aerr != nil {
				return aerr
			}
			return err
		}
		return fn(w, r)
	}
}

func checkAPIVersion(r *http.Request, allowed map[string]bool) error {
	v := r.URL.Query().Get("api-version")
	if !allowed[v] {
		var list []string
		for k := range allowed {
			list = append(list, k)
		}
		return fmt.Errorf("%w: api-version %q; want one of %s", ErrAPIVersion, v, strings.Join(slices.Sorted(slices.Values(list)), ", "))
	}
	return nil
}

// decodeBody decodes one JSON value from the request body into v,
// rejecting unknown fields, wrong types, trailing data and bodies over the
// cap. It decodes as it reads, without a copy of the whole body.
func decodeBody(r *http.Request, v any) error {
	return decodeFrom(r.Body, v)
}

func decodeJSON(b []byte, v any) error {
	return decodeFrom(bytes.NewReader(b), v)
}

func decodeFrom(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, "malformed JSON: %v")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return bodyError(err, "malformed JSON: trailing data after the object (%v)")
		}
		return badRequest("malformed JSON: trailing data after the object")
	}
	return nil
}

// bodyError maps an error met while decoding a body: over the cap is
// ErrTooLarge, anything else a bad request described by format.
func bodyError(err error, format string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, mbe.Limit)
	}
	return badRequest(format, err)
}

func (s *Server) handleCerts(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.JWKS())
	return nil
}

func (s *Server) handleOpenID(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuer,
		"jwks_uri":                              s.issuer + "/certs",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"token", "none"},
		"revocation_endpoint":                   s.issuer + "/revoke",
		"claims_supported":                      claimNames,
	})
	return nil
}

// NonceResponse is the body of GET /nonce.
type NonceResponse struct {
	// Nonce is the single-use value to send with the evidence.
	Nonce string `json:"nonce"`
	// ExpiresAt is when the nonce stops being accepted (RFC 3339).
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Server) handleNonce(w http.ResponseWriter, r *http.Request) error {
	b := make([]byte, 24)
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		return err
	}
	n := b64.EncodeToString(b)
	now := s.now()
	exp := now.Add(s.nonceTTL)
	err := s.st.tx(r.Context(), func(tx *sqlTx) error {
		// Expired nonces are pruned opportunistically.
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM nonces WHERE expires_at < ?`, now.Add(-time.Hour).Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(r.Context(), `INSERT INTO nonces (nonce, expires_at, used) VALUES (?, ?, 0)`, n, exp.Unix())
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, NonceResponse{Nonce: n, ExpiresAt: exp.UTC().Truncate(time.Second)})
	return nil
}

// consumeNonce marks n used inside tx; it fails with ErrNonce unless n was
// issued, is unused and has not expired. The conditional UPDATE is atomic,
// so two requests (or replicas) racing on one nonce cannot both win.
func (s *Server) consumeNonce(ctx context.Context, tx *sqlTx, n string) error {
	res, err := tx.exec(ctx, `UPDATE nonces SET used = 1 WHERE nonce = ? AND used = 0 AND expires_at >= ?`, n, s.now().Unix())
	if err != nil {
		return err
	}
	if c, err := res.RowsAffected(); err != nil || c != 1 {
		return fmt.Errorf("%w: %q", ErrNonce, n)
	}
	return nil
}
