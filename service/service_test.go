package service_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/internal/hashchain"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/service/servicetest"
)

var b64 = base64.RawURLEncoding

type env struct {
	srv   *service.Server
	ts    *httptest.Server
	url   string
	dir   string
	admin *client.Client
	anon  *client.Client
	now   *time.Time
}

// newEnv starts a service on a loopback httptest server.
func newEnv(t testing.TB, mut func(*service.Options)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	e := &env{ts: ts, url: "http://" + ts.Listener.Addr().String(), dir: t.TempDir()}
	now := time.Now()
	e.now = &now
	opts := service.Options{
		DataDir:  e.dir,
		Verifier: servicetest.Verifier{},
		Issuer:   e.url,
		Now:      func() time.Time { return *e.now },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mut != nil {
		mut(&opts)
	}
	srv, err := service.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	e.admin, _ = client.New(e.url, &client.Options{AdminToken: srv.AdminToken()})
	e.anon, _ = client.New(e.url, nil)
	return e
}

// enclaveKey is the key an enclave would put in its runtime data.
type enclaveKey struct {
	priv    crypto.PrivateKey
	runtime []byte
}

func newEnclaveKey(t testing.TB, kind string) *enclaveKey {
	t.Helper()
	var priv crypto.PrivateKey
	var pub crypto.PublicKey
	switch kind {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	case "ec":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	jwk, err := json.Marshal(jose.JSONWebKey{Key: pub, KeyID: "enclave-" + kind, Use: "enc"})
	if err != nil {
		t.Fatal(err)
	}
	return &enclaveKey{priv: priv, runtime: []byte(`{"keys":[` + string(jwk) + `],"purpose":"test"}`)}
}

// attestBody builds a POST /attest/SgxEnclave body for claims c.
func attestBody(c *attest.Claims, runtime []byte, nonce string) map[string]any {
	body := map[string]any{"quote": b64.EncodeToString(servicetest.Evidence(c))}
	if runtime != nil {
		body["runtimeData"] = map[string]string{"data": b64.EncodeToString(runtime), "dataType": "JSON"}
	}
	if nonce != "" {
		body["nonce"] = nonce
	}
	return body
}

// raw sends a request and returns status and decoded JSON body.
func (e *env) raw(t testing.TB, method, path string, body any, admin bool) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if admin {
		req.Header.Set("Authorization", "Bearer "+e.srv.AdminToken())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func (e *env) auditCount(t testing.TB) int {
	t.Helper()
	rep, err := e.srv.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("VerifyAudit() = %v", err)
	}
	return rep.Records
}

func verifyToken(t testing.TB, e *env, token string) map[string]any {
	t.Helper()
	set, err := e.anon.Certs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Headers[0].ExtraHeaders["jku"]; got != e.url+"/certs" {
		t.Errorf("jku = %v; want %s", got, e.url+"/certs")
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in /certs; want 1", tok.Headers[0].KeyID, len(keys))
	}
	if len(keys[0].Certificates) != 1 || !keys[0].Certificates[0].PublicKey.(*rsa.PublicKey).Equal(keys[0].Key) {
		t.Errorf("/certs x5c does not carry the signing key")
	}
	var m map[string]any
	if err := tok.Claims(keys[0].Key, &m); err != nil {
		t.Fatalf("token does not verify against /certs: %v", err)
	}
	return m
}

func TestAttest(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ek := newEnclaveKey(t, "rsa")
	for _, ver := range []string{"2020-10-01", "2022-08-01"} {
		t.Run(ver, func(t *testing.T) {
			cl, _ := client.New(e.url, &client.Options{AttestAPIVersion: ver})
			nonce, err := cl.Nonce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := servicetest.SGXClaims(ek.runtime)
			tok, err := cl.Attest(ctx, "SgxEnclave", servicetest.Evidence(c), ek.runtime, nonce)
			if err != nil {
				t.Fatalf("Attest() = %v", err)
			}
			m := verifyToken(t, e, tok)
			want := map[string]any{
				"iss":                    e.url,
				"nonce":                  nonce,
				"x-ms-ver":               "1.0",
				"x-ms-attestation-type":  "sgx",
				"x-ms-sgx-is-debuggable": false,
				"x-ms-sgx-mrenclave":     strings.Repeat("11", 32),
				"x-ms-sgx-mrsigner":      strings.Repeat("22", 32),
				"x-ms-sgx-product-id":    1.0,
				"x-ms-sgx-svn":           2.0,
				"x-ms-sgx-ehd":           b64.EncodeToString(ek.runtime),
				"x-ms-sgx-report-data":   fmt.Sprintf("%x", []byte(c.ReportData)),
				"x-confide-tcb-status":   "UpToDate",
				"x-confide-simulated":    false,
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("claim %s = %v; want %v", k, m[k], v)
				}
			}
			rt, _ := m["x-ms-runtime"].(map[string]any)
			if rt["purpose"] != "test" || len(rt["keys"].([]any)) != 1 {
				t.Errorf("x-ms-runtime = %v; want the parsed runtime data", m["x-ms-runtime"])
			}
			for _, k := range []string{"iat", "nbf", "exp", "jti", "x-ms-policy-hash"} {
				if _, ok := m[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
			if exp, iat := m["exp"].(float64), m["iat"].(float64); exp-iat != (8 * time.Hour).Seconds() {
				t.Errorf("exp - iat = %v; want 8h default lifetime", exp-iat)
			}
		})
	}
	t.Run("TdxVm", func(t *testing.T) {
		c := servicetest.SGXClaims(ek.runtime)
		c.TEE = attest.TDX
		c.TDX = &attest.TDXClaims{MRTD: bytes.Repeat([]byte{0x33}, 48), RTMR: [4]attest.Hex{{1}, {2}, {3}, {4}}}
		tok, err := e.anon.Attest(ctx, "TdxVm", servicetest.Evidence(c), ek.runtime, "")
		if err != nil {
			t.Fatal(err)
		}
		m := verifyToken(t, e, tok)
		for k, v := range map[string]any{"x-ms-attestation-type": "tdxvm", "tdx_mrtd": strings.Repeat("33", 48), "tdx_rtmr3": "04", "tdx_td_attributes_debug": false} {
			if m[k] != v {
				t.Errorf("claim %s = %v; want %v", k, m[k], v)
			}
		}
	})
	t.Run("OpenEnclave", func(t *testing.T) {
		if _, err := e.anon.Attest(ctx, "OpenEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAttestLifetime(t *testing.T) {
	e := newEnv(t, func(o *service.Options) { o.TokenLifetime = time.Minute })
	ek := newEnclaveKey(t, "ec")
	tok, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	if err != nil {
		t.Fatal(err)
	}
	m := verifyToken(t, e, tok)
	if d := m["exp"].(float64) - m["iat"].(float64); d != 60 {
		t.Errorf("exp - iat = %v; want 60", d)
	}
}

// TestAttestRefused covers every refusal: each must be problem+json with
// the right status and type, and must add one audit record.
func TestAttestRefused(t *testing.T) {
	e := newEnv(t, nil)
	ek := newEnclaveKey(t, "rsa")
	good := servicetest.SGXClaims(ek.runtime)
	debug := servicetest.SGXClaims(ek.runtime)
	debug.Debug = true
	debug.TCBStatus = attest.Revoked
	sim := servicetest.SGXClaims(ek.runtime)
	sim.Simulated = true
	used, _ := e.anon.Nonce(context.Background())
	if _, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(good), ek.runtime, used); err != nil {
		t.Fatal(err)
	}
	expired, _ := e.anon.Nonce(context.Background())
	const path = "/attest/SgxEnclave?api-version=2022-08-01"
	tests := []struct {
		name       string
		path       string
		body       any
		before     func()
		wantStatus int
		wantType   string
		wantErrors int
	}{
		{"no api-version", "/attest/SgxEnclave", attestBody(good, ek.runtime, ""), nil, 400, "api-version", 0},
		{"old api-version", "/attest/SgxEnclave?api-version=2018-09-01-preview", attestBody(good, ek.runtime, ""), nil, 400, "api-version", 0},
		{"malformed JSON", path, `{"quote":`, nil, 400, "bad-request", 0},
		{"wrong type", path, `{"quote": 12}`, nil, 400, "bad-request", 0},
		{"unknown field", path, `{"quote": "AA", "extra": 1}`, nil, 400, "bad-request", 0},
		{"trailing data", path, `{"quote": "AA"} {}`, nil, 400, "bad-request", 0},
		{"oversized", path, `{"quote": "` + strings.Repeat("A", 2<<20) + `"}`, nil, 413, "too-large", 0},
		{"bad base64", path, `{"quote": "!!!"}`, nil, 400, "bad-request", 0},
		{"no quote", path, `{}`, nil, 400, "bad-request", 0},
		{"bad dataType", path, map[string]any{"quote": b64.EncodeToString(servicetest.Evidence(good)), "runtimeData": map[string]string{"data": "e30", "dataType": "XML"}}, nil, 400, "bad-request", 0},
		{"evidence does not verify", path, `{"quote": "AAAA"}`, nil, 400, "evidence", 0},
		{"runtime data mismatch", path, attestBody(good, []byte(`{"other":1}`), ""), nil, 400, "runtime-data", 0},
		{"unknown nonce", path, attestBody(good, ek.runtime, "never-issued"), nil, 400, "nonce", 0},
		{"used nonce", path, attestBody(good, ek.runtime, used), nil, 400, "nonce", 0},
		{"expired nonce", path, attestBody(good, ek.runtime, expired), func() { *e.now = e.now.Add(time.Hour) }, 400, "nonce", 0},
		{"debug and revoked", path, attestBody(debug, ek.runtime, ""), nil, 403, "policy-denied", 2},
		{"simulated", path, attestBody(sim, ek.runtime, ""), nil, 403, "policy-denied", 1},
		{"unknown type", "/attest/SevSnpVm?api-version=2022-08-01", attestBody(good, ek.runtime, ""), nil, 404, "not-found", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			before := e.auditCount(t)
			status, p, h := e.raw(t, "POST", tc.path, tc.body, false)
			if status != tc.wantStatus || p["type"] != "https://confide.dev/problems/"+tc.wantType {
				t.Fatalf("POST %s = %d %v; want %d %s", tc.name, status, p, tc.wantStatus, tc.wantType)
			}
			if ct := h.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q; want application/problem+json", ct)
			}
			if errs, _ := p["errors"].([]any); len(errs) != tc.wantErrors {
				t.Errorf("errors = %v; want %d", p["errors"], tc.wantErrors)
			}
			if got := e.auditCount(t) - before; got != 1 {
				t.Errorf("audit records added = %d; want 1", got)
			}
		})
	}
}

func TestAllowSimulated(t *testing.T) {
	e := newEnv(t, func(o *service.Options) { o.AllowSimulated = true })
	ek := newEnclaveKey(t, "rsa")
	c := servicetest.SGXClaims(ek.runtime)
	c.Simulated = true
	tok, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(c), ek.runtime, "")
	if err != nil {
		t.Fatalf("Attest(simulated) with AllowSimulated = %v; want a token", err)
	}
	if m := verifyToken(t, e, tok); m["x-confide-simulated"] != true {
		t.Errorf("x-confide-simulated = %v; want true", m["x-confide-simulated"])
	}
	c.Debug = true
	if _, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(c), ek.runtime, ""); err == nil {
		t.Errorf("Attest(simulated, debug) = nil; want refused (AllowSimulated does not allow debug)")
	}
}

func policyJWS(text string) string {
	payload, _ := json.Marshal(map[string]string{"AttestationPolicy": b64.EncodeToString([]byte(text))})
	return b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString(payload) + "."
}

func TestPolicies(t *testing.T) {
	e := newEnv(t, nil)
	ek := newEnclaveKey(t, "rsa")
	const p = "/policies/SgxEnclave?api-version=2022-08-01"
	custom := `package policy
deny contains "product id must be 7" if input["x-ms-sgx-product-id"] != 7
deny contains "svn must be at least 5" if input["x-ms-sgx-svn"] < 5
claims := {"x-app-tier": "gold"}
`
	if status, _, _ := e.raw(t, "PUT", p, policyJWS(custom), false); status != 401 {
		t.Errorf("PUT policy without admin = %d; want 401", status)
	}
	if status, m, _ := e.raw(t, "PUT", p, policyJWS("package policy\ndeny contains if {"), true); status != 400 || m["type"] != "https://confide.dev/problems/invalid-policy" {
		t.Errorf("PUT bad rego = %d %v; want 400 invalid-policy", status, m)
	}
	if status, m, _ := e.raw(t, "PUT", p, "not a jws", true); status != 400 {
		t.Errorf("PUT non-JWS = %d %v; want 400", status, m)
	}
	status, m, _ := e.raw(t, "PUT", p, policyJWS(custom), true)
	if status != 200 {
		t.Fatalf("PUT policy = %d %v", status, m)
	}
	if r := verifyToken(t, e, m["token"].(string)); r["x-ms-policy-result"] != "Updated" {
		t.Errorf("x-ms-policy-result = %v; want Updated", r["x-ms-policy-result"])
	}
	status, m, _ = e.raw(t, "GET", p, nil, false)
	if status != 200 {
		t.Fatalf("GET policy = %d", status)
	}
	inner := verifyToken(t, e, m["token"].(string))["x-ms-policy"].(string)
	var sp struct{ AttestationPolicy string }
	json.Unmarshal(mustB64(t, strings.Split(inner, ".")[1]), &sp)
	if got := string(mustB64(t, sp.AttestationPolicy)); got != custom {
		t.Errorf("GET policy text = %q; want %q", got, custom)
	}

	// Both rules fail: the denial lists both.
	status, m, _ = e.raw(t, "POST", "/attest/SgxEnclave?api-version=2022-08-01", attestBody(servicetest.SGXClaims(ek.runtime), ek.runtime, ""), false)
	errs, _ := m["errors"].([]any)
	if status != 403 || len(errs) != 2 {
		t.Errorf("attest under custom policy = %d %v; want 403 with 2 errors", status, m)
	}
	c := servicetest.SGXClaims(ek.runtime)
	c.ProductID, c.SecurityVersion = 7, 5
	tok, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(c), ek.runtime, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyToken(t, e, tok)["x-app-tier"]; got != "gold" {
		t.Errorf("x-app-tier = %v; want the policy's extra claim", got)
	}

	status, m, _ = e.raw(t, "POST", "/policies/SgxEnclave:reset?api-version=2022-08-01", policyJWS(""), true)
	if status != 200 || verifyToken(t, e, m["token"].(string))["x-ms-policy-result"] != "Removed" {
		t.Fatalf("reset = %d %v", status, m)
	}
	if _, err := e.anon.Attest(context.Background(), "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, ""); err != nil {
		t.Errorf("attest after reset = %v; want the default policy to allow", err)
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func skrPolicy(authority string, mrenclave string) map[string]any {
	p := fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[{"claim":"x-ms-sgx-mrenclave","equals":%q},{"claim":"x-ms-attestation-type","equals":"sgx"}]}]}`, authority, mrenclave)
	return map[string]any{"contentType": "application/json; charset=utf-8", "data": b64.EncodeToString([]byte(p))}
}

func TestKeyRelease(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	mr := strings.Repeat("11", 32)
	keys := []struct {
		name string
		req  map[string]any
	}{
		{"oct", map[string]any{"kty": "oct-HSM", "key_size": 256}},
		{"rsa2048", map[string]any{"kty": "RSA-HSM", "key_size": 2048}},
		{"rsa3072", map[string]any{"kty": "RSA", "key_size": 3072}},
		{"p256", map[string]any{"kty": "EC-HSM", "crv": "P-256"}},
		{"p384", map[string]any{"kty": "EC", "crv": "P-384"}},
	}
	bundles := map[string]service.KeyBundle{}
	for _, k := range keys {
		k.req["attributes"] = map[string]any{"exportable": true}
		k.req["release_policy"] = skrPolicy(e.url, mr)
		var b service.KeyBundle
		if err := e.admin.Put(ctx, "/keys/"+k.name, "7.4", k.req, &b); err != nil {
			t.Fatalf("PUT /keys/%s = %v", k.name, err)
		}
		for _, secret := range []string{"d", "p", "q", "k", "dp", "dq", "qi"} {
			if _, ok := b.Key[secret]; ok {
				t.Errorf("PUT /keys/%s response carries %q", k.name, secret)
			}
		}
		bundles[k.name] = b
	}
	for _, target := range []string{"rsa", "ec"} {
		ek := newEnclaveKey(t, target)
		tok, err := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
		if err != nil {
			t.Fatal(err)
		}
		set, _ := e.anon.Certs(ctx)
		for _, k := range keys {
			t.Run(target+"/"+k.name, func(t *testing.T) {
				v, err := e.anon.Release(ctx, k.name, tok)
				if err != nil {
					t.Fatalf("Release() = %v", err)
				}
				got, err := client.Unwrap(v, set, ek.priv)
				if err != nil {
					t.Fatalf("Unwrap() = %v", err)
				}
				b := bundles[k.name]
				switch k.name {
				case "oct":
					if len(got) != 32 {
						t.Errorf("oct key is %d bytes; want 32", len(got))
					}
				default:
					// The released private key must match the public key
					// the broker published for it.
					priv, err := x509.ParsePKCS8PrivateKey(got)
					if err != nil {
						t.Fatalf("released key is not PKCS#8: %v", err)
					}
					pub := priv.(interface{ Public() crypto.PublicKey }).Public()
					j, _ := json.Marshal(jose.JSONWebKey{Key: pub})
					var want map[string]any
					json.Unmarshal(j, &want)
					for _, f := range []string{"n", "e", "x", "y", "crv"} {
						if want[f] != nil && want[f] != b.Key[f] {
							t.Errorf("released key %s = %v; published %v", f, want[f], b.Key[f])
						}
					}
				}
			})
		}
	}
}

func TestKeyReleaseRefused(t *testing.T) {
	other := newEnv(t, nil) // another issuer, not trusted by e
	e := newEnv(t, nil)
	ctx := context.Background()
	mr := strings.Repeat("11", 32)
	if err := e.admin.Put(ctx, "/keys/k1", "7.4", map[string]any{"kty": "oct-HSM", "release_policy": skrPolicy(e.url, mr)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Put(ctx, "/keys/k-other", "7.4", map[string]any{"kty": "oct-HSM", "release_policy": skrPolicy(other.url, mr)}, nil); err != nil {
		t.Fatal(err)
	}
	ek := newEnclaveKey(t, "rsa")
	ev := servicetest.Evidence(servicetest.SGXClaims(ek.runtime))
	tok, _ := e.anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, "")
	otherTok, _ := other.anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, "")
	wrongMR := servicetest.SGXClaims(ek.runtime)
	wrongMR.UniqueID = bytes.Repeat([]byte{0x99}, 32)
	wrongTok, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(wrongMR), ek.runtime, "")
	noKeyTok, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims([]byte(`{"x":1}`))), []byte(`{"x":1}`), "")
	parts := strings.Split(tok, ".")
	claims := map[string]any{}
	json.Unmarshal(mustB64(t, parts[1]), &claims)
	claims["x-ms-sgx-mrenclave"] = strings.Repeat("99", 32)
	forged, _ := json.Marshal(claims)
	tampered := parts[0] + "." + b64.EncodeToString(forged) + "." + parts[2]

	const rel = "/keys/k1/release?api-version=7.4"
	tests := []struct {
		name       string
		path       string
		body       any
		admin      bool
		before     func()
		wantStatus int
		wantType   string
	}{
		{"malformed JSON", rel, `{"target":`, false, nil, 400, "bad-request"},
		{"wrong type", rel, `{"target": 5}`, false, nil, 400, "bad-request"},
		{"no target", rel, `{}`, false, nil, 400, "bad-request"},
		{"api-version", "/keys/k1/release?api-version=2022-08-01", map[string]string{"target": tok}, false, nil, 400, "api-version"},
		{"not a token", rel, map[string]string{"target": "abc"}, false, nil, 401, "token"},
		{"tampered token", rel, map[string]string{"target": tampered}, false, nil, 401, "token"},
		{"untrusted issuer", "/keys/k-other/release?api-version=7.4", map[string]string{"target": otherTok}, false, nil, 401, "token"},
		{"policy denies", rel, map[string]string{"target": wrongTok}, false, nil, 403, "policy-denied"},
		{"no runtime key", rel, map[string]string{"target": noKeyTok}, false, nil, 400, "target-key"},
		{"unknown key", "/keys/nope/release?api-version=7.4", map[string]string{"target": tok}, false, nil, 404, "not-found"},
		{"unknown version", "/keys/k1/0123/release?api-version=7.4", map[string]string{"target": tok}, false, nil, 404, "not-found"},
		{"policy does not parse", "/keys/k2?api-version=7.4", map[string]any{"kty": "oct", "release_policy": map[string]string{"data": b64.EncodeToString([]byte(`{"version":"1.0.0","anyOf":[{"authority":"x"}]}`))}}, true, nil, 400, "invalid-policy"},
		{"rego policy does not parse", "/keys/k2?api-version=7.4", map[string]any{"kty": "oct", "release_policy": map[string]string{"contentType": "application/rego", "data": b64.EncodeToString([]byte(`package policy deny[`))}}, true, nil, 400, "invalid-policy"},
		{"create without admin", "/keys/k2?api-version=7.4", map[string]any{"kty": "oct", "release_policy": skrPolicy(e.url, mr)}, false, nil, 401, "unauthorized"},
		{"bad kty", "/keys/k2?api-version=7.4", map[string]any{"kty": "OKP", "release_policy": skrPolicy(e.url, mr)}, true, nil, 400, "bad-request"},
		{"bad rsa size", "/keys/k2?api-version=7.4", map[string]any{"kty": "RSA", "key_size": 1024, "release_policy": skrPolicy(e.url, mr)}, true, nil, 400, "bad-request"},
		{"expired token", rel, map[string]string{"target": tok}, false, func() { *e.now = e.now.Add(9 * time.Hour) }, 401, "token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			before := e.auditCount(t)
			method := "POST"
			if strings.HasPrefix(tc.path, "/keys/k2") {
				method = "PUT"
			}
			status, p, _ := e.raw(t, method, tc.path, tc.body, tc.admin)
			if status != tc.wantStatus || p["type"] != "https://confide.dev/problems/"+tc.wantType {
				t.Fatalf("%s = %d %v; want %d %s", tc.name, status, p, tc.wantStatus, tc.wantType)
			}
			if got := e.auditCount(t) - before; got != 1 {
				t.Errorf("audit records added = %d; want 1", got)
			}
		})
	}
}

func TestTrustedAuthority(t *testing.T) {
	other := newEnv(t, nil)
	e := newEnv(t, func(o *service.Options) { o.TrustedAuthorities = []string{other.url} })
	ctx := context.Background()
	if err := e.admin.Put(ctx, "/keys/k", "7.4", map[string]any{"kty": "oct-HSM", "release_policy": skrPolicy(other.url, strings.Repeat("11", 32))}, nil); err != nil {
		t.Fatal(err)
	}
	ek := newEnclaveKey(t, "ec")
	tok, err := other.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.anon.Release(ctx, "k", tok)
	if err != nil {
		t.Fatalf("Release(token from trusted authority) = %v", err)
	}
	if _, err := client.Unwrap(v, nil, ek.priv); err != nil {
		t.Fatal(err)
	}
	// A token of this service itself is not accepted by a policy naming
	// only the other authority.
	own, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	var pe *client.ProblemError
	if _, err := e.anon.Release(ctx, "k", own); !errors.As(err, &pe) || pe.Status != 403 {
		t.Errorf("Release(own token, policy names other) = %v; want 403", err)
	}
}

func TestSecrets(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	rego := `package policy
deny contains "wrong enclave" if input["x-ms-sgx-mrenclave"] != "` + strings.Repeat("11", 32) + `"
`
	var sb service.SecretBundle
	err := e.admin.Put(ctx, "/secrets/db-password", "7.4", map[string]any{"value": "hunter2",
		"release_policy": map[string]string{"contentType": "application/rego", "data": b64.EncodeToString([]byte(rego))}}, &sb)
	if err != nil {
		t.Fatal(err)
	}
	status, m, _ := e.raw(t, "GET", "/secrets/db-password?api-version=7.4", nil, false)
	if status != 200 || strings.Contains(fmt.Sprint(m), "hunter2") {
		t.Errorf("GET secret = %d %v; want metadata without the value", status, m)
	}
	ek := newEnclaveKey(t, "rsa")
	tok, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	v, err := e.anon.ReleaseSecret(ctx, "db-password", tok)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := e.anon.Certs(ctx)
	got, err := client.Unwrap(v, set, ek.priv)
	if err != nil || string(got) != "hunter2" {
		t.Errorf("Unwrap(secret) = %q, %v; want hunter2", got, err)
	}
	other := newEnclaveKey(t, "rsa")
	if _, err := client.Unwrap(v, set, other.priv); err == nil {
		t.Errorf("Unwrap(with another key) = nil; want an error")
	}
}

func TestOpenIDAndHealth(t *testing.T) {
	e := newEnv(t, nil)
	status, m, _ := e.raw(t, "GET", "/.well-known/openid-configuration", nil, false)
	if status != 200 || m["issuer"] != e.url || m["jwks_uri"] != e.url+"/certs" {
		t.Errorf("openid-configuration = %d %v", status, m)
	}
	if status, _, _ := e.raw(t, "GET", "/healthz", nil, false); status != 200 {
		t.Errorf("healthz = %d", status)
	}
	e.anon.Nonce(context.Background())
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`confide_requests_total{code="200",route="nonce"} 1`)) {
		t.Errorf("/metrics lacks the nonce request counter:\n%s", b)
	}
}

func TestAuditChain(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ek := newEnclaveKey(t, "rsa")
	for i := 0; i < 3; i++ {
		e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	}
	e.raw(t, "POST", "/attest/SgxEnclave?api-version=2022-08-01", `{"quote":"!"}`, false)
	rep, err := service.VerifyAudit(ctx, e.dir, "")
	if err != nil || rep.Records != 4 {
		t.Fatalf("VerifyAudit() = %v, %v; want 4 records", rep, err)
	}
	if rep.Events[3].Granted || len(rep.Events[3].Reasons) == 0 || !rep.Events[0].Granted {
		t.Errorf("events = %+v; want 3 granted then 1 refused with reasons", rep.Events)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "confide.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET payload = CAST('{"action":"forged"}' AS BLOB) WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, err = service.VerifyAudit(ctx, e.dir, "")
	var be *hashchain.BreakError
	if !errors.As(err, &be) || be.Seq != 2 {
		t.Errorf("VerifyAudit(edited record 2) = %v; want a break at 2", err)
	}
}

func TestConcurrentNonce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ek := newEnclaveKey(t, "rsa")
	n, _ := e.anon.Nonce(ctx)
	ev := servicetest.Evidence(servicetest.SGXClaims(ek.runtime))
	const racers = 8
	results := make(chan error, racers)
	for i := 0; i < racers; i++ {
		go func() {
			_, err := e.anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, n)
			results <- err
		}()
	}
	ok := 0
	for i := 0; i < racers; i++ {
		if <-results == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing attestations with one nonce succeeded; want 1", ok, racers)
	}
	if _, err := service.VerifyAudit(ctx, e.dir, ""); err != nil {
		t.Errorf("VerifyAudit() = %v", err)
	}
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

func TestDraftPolicy(t *testing.T) {
	e := newEnv(t, nil)
	ek := newEnclaveKey(t, "rsa")
	c := servicetest.SGXClaims(ek.runtime)
	tests := []struct {
		name       string
		policy     string
		wantStatus int
	}{
		{"allows", "package policy\nclaims := {\"draft\": true}\n", 200},
		{"denies", "package policy\ndeny contains \"draft says no\" if true\n", 403},
		{"does not compile", "package policy\ndeny contains", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := attestBody(c, ek.runtime, "")
			body["draftPolicyForAttestation"] = tc.policy
			status, m, _ := e.raw(t, "POST", "/attest/SgxEnclave?api-version=2022-08-01", body, false)
			if status != tc.wantStatus {
				t.Fatalf("attest with draft policy = %d %v; want %d", status, m, tc.wantStatus)
			}
			if status != 200 {
				return
			}
			// A draft policy yields an unsecured token, worthless to a
			// relying party.
			parts := strings.Split(m["token"].(string), ".")
			var hdr, claims map[string]any
			json.Unmarshal(mustB64(t, parts[0]), &hdr)
			json.Unmarshal(mustB64(t, parts[1]), &claims)
			if hdr["alg"] != "none" || parts[2] != "" || claims["draft"] != true {
				t.Errorf("draft token header %v, claims draft=%v, signature %q; want alg none, unsigned, draft claim", hdr, claims["draft"], parts[2])
			}
		})
	}
}

func TestKeyVersions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	req := map[string]any{"kty": "EC", "crv": "P-256", "release_policy": skrPolicy(e.url, strings.Repeat("11", 32))}
	var v1, v2 service.KeyBundle
	if err := e.admin.Put(ctx, "/keys/k", "7.4", req, &v1); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Put(ctx, "/keys/k", "7.4", req, &v2); err != nil {
		t.Fatal(err)
	}
	if v1.Key["kid"] == v2.Key["kid"] {
		t.Fatalf("two PUTs gave one version %v", v1.Key["kid"])
	}
	ver1 := v1.Key["kid"].(string)[strings.LastIndex(v1.Key["kid"].(string), "/")+1:]
	status, m, _ := e.raw(t, "GET", "/keys/k/"+ver1+"?api-version=7.4", nil, false)
	if status != 200 || m["key"].(map[string]any)["x"] != v1.Key["x"] {
		t.Errorf("GET /keys/k/%s = %d %v; want version 1", ver1, status, m)
	}
	status, m, _ = e.raw(t, "GET", "/keys/k?api-version=7.4", nil, false)
	if status != 200 || m["key"].(map[string]any)["x"] != v2.Key["x"] {
		t.Errorf("GET /keys/k = %d %v; want the latest version", status, m)
	}
	ek := newEnclaveKey(t, "rsa")
	tok, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	status, m, _ = e.raw(t, "POST", "/keys/k/"+ver1+"/release?api-version=7.4", map[string]string{"target": tok}, false)
	if status != 200 {
		t.Fatalf("release version 1 = %d %v", status, m)
	}
	got, err := client.Unwrap(m["value"].(string), e.srv.JWKS(), ek.priv)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(got)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(jose.JSONWebKey{Key: priv.(*ecdsa.PrivateKey).Public()})
	var pub map[string]any
	json.Unmarshal(j, &pub)
	if pub["x"] != v1.Key["x"] {
		t.Errorf("released version 1 has x %v; want %v", pub["x"], v1.Key["x"])
	}
}

// TestAtRest checks the master key and admin token files are private and
// that key material and secret values never reach the database in clear.
func TestAtRest(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, f := range []string{"master.key", "admin.token"} {
		fi, err := os.Stat(filepath.Join(e.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v; want 0600", f, fi.Mode().Perm())
		}
	}
	policy := skrPolicy(e.url, strings.Repeat("11", 32))
	if err := e.admin.Put(ctx, "/keys/k", "7.4", map[string]any{"kty": "oct-HSM", "release_policy": policy}, nil); err != nil {
		t.Fatal(err)
	}
	const secret = "correct-horse-battery-staple-secret"
	if err := e.admin.Put(ctx, "/secrets/s", "7.4", map[string]any{"value": secret, "release_policy": policy}, nil); err != nil {
		t.Fatal(err)
	}
	ek := newEnclaveKey(t, "rsa")
	tok, _ := e.anon.Attest(ctx, "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	v, err := e.anon.Release(ctx, "k", tok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := client.Unwrap(v, nil, ek.priv)
	if err != nil {
		t.Fatal(err)
	}
	var db []byte
	for _, f := range []string{"confide.db", "confide.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, f))
		db = append(db, b...)
	}
	if len(db) == 0 {
		t.Fatal("no database files")
	}
	if bytes.Contains(db, key) {
		t.Errorf("the oct key's bytes appear in the database files")
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Errorf("the secret value appears in the database files")
	}
}
