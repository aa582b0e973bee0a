package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testSigningKey returns a signing key stored in a fresh SQLite store.
func testSigningKey(t *testing.T) *signingKey {
	t.Helper()
	st, err := openStore(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sl, err := newSealer(make([]byte, masterKeySize), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := loadSigningKey(context.Background(), st, sl, rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignVerifiesWithGoJose checks the JWS the service assembles against
// go-jose's own parser and verifier: headers, signature and claims.
func TestSignVerifiesWithGoJose(t *testing.T) {
	k := testSigningKey(t)
	claims := map[string]any{"iss": "https://svc", "n": float64(5), "s": "<&>", "o": map[string]any{"a": []any{"b"}}}
	for _, x5c := range []bool{false, true} {
		tok, err := k.sign(claims, "https://svc/certs", x5c)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatalf("ParseSignedCompact(sign(x5c=%v)) = %v", x5c, err)
		}
		h := jws.Signatures[0].Header
		if h.Algorithm != "RS256" || h.KeyID != k.kid || h.ExtraHeaders[jose.HeaderType] != "JWT" || h.ExtraHeaders["jku"] != "https://svc/certs" {
			t.Errorf("sign(x5c=%v) header = %+v; want RS256, kid %s, typ JWT, jku", x5c, h, k.kid)
		}
		var raw struct {
			X5C [][]byte `json:"x5c"`
		}
		if err := josejson.Unmarshal(b64MustDecode(t, strings.Split(tok, ".")[0]), &raw); err != nil {
			t.Fatal(err)
		}
		if got := len(raw.X5C); (got == 1) != x5c || (x5c && !bytes.Equal(raw.X5C[0], k.cert.Raw)) {
			t.Errorf("sign(x5c=%v) carries %d certificates; want the signing certificate only with x5c", x5c, got)
		}
		var got map[string]any
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if err := parsed.Claims(&k.priv.PublicKey, &got); err != nil {
			t.Fatalf("sign(x5c=%v) does not verify: %v", x5c, err)
		}
		if !reflect.DeepEqual(got, claims) {
			t.Errorf("sign(x5c=%v) claims = %v; want %v", x5c, got, claims)
		}
	}
}

func b64MustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyJWT checks verification of the service's own tokens: good
// ones pass, and each kind of bad one is refused with ErrToken.
func TestVerifyJWT(t *testing.T) {
	k := testSigningKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}
	now := time.Unix(1_700_000_000, 0)
	exp := now.Add(time.Hour).Unix()
	good, _ := k.sign(map[string]any{"iss": "https://svc", "exp": exp, "x": "y"}, "https://svc/certs", false)
	foreign := &signingKey{priv: other, cert: k.cert, kid: k.kid}
	forged, _ := foreign.sign(map[string]any{"iss": "https://svc", "exp": exp}, "https://svc/certs", false)
	sign := func(c map[string]any) string {
		s, err := k.sign(c, "https://svc/certs", false)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"good", good, true},
		{"forged", forged, false},
		{"other issuer", sign(map[string]any{"iss": "https://other", "exp": exp}), false},
		{"expired", sign(map[string]any{"iss": "https://svc", "exp": now.Add(-time.Hour).Unix()}), false},
		{"not yet valid", sign(map[string]any{"iss": "https://svc", "exp": exp, "nbf": now.Add(time.Hour).Unix()}), false},
		{"issued in the future", sign(map[string]any{"iss": "https://svc", "exp": exp, "iat": now.Add(time.Hour).Unix()}), false},
		{"no exp", sign(map[string]any{"iss": "https://svc"}), false},
		{"exp is a string", sign(map[string]any{"iss": "https://svc", "exp": "soon"}), false},
		{"not a JWS", "a.b", false},
		{"payload not an object", sign(nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := verifyJWT(tc.token, set, "https://svc", now)
			if tc.ok {
				if err != nil || claims["x"] != "y" {
					t.Errorf("verifyJWT() = %v, %v; want the claims", claims, err)
				}
				return
			}
			if !errors.Is(err, ErrToken) {
				t.Errorf("verifyJWT() = %v; want ErrToken", err)
			}
		})
	}
}

// TestRegisteredClaims compares registeredClaims with decoding the same
// payload into jwt.Claims by go-jose: same values, and an error for the
// same payloads.
func TestRegisteredClaims(t *testing.T) {
	payloads := []string{
		`{}`,
		`{"iss":"a","sub":"b","jti":"c","aud":"d","exp":1700000000,"nbf":1600000000,"iat":1650000000.7}`,
		`{"aud":["x","y"]}`,
		`{"aud":[]}`,
		`{"iss":null,"exp":null,"aud":null}`,
		`{"ISS":"a","Exp":"x"}`,
		`{"iss":5}`,
		`{"sub":true}`,
		`{"jti":{}}`,
		`{"exp":"1700000000"}`,
		`{"nbf":[1]}`,
		`{"exp":4611686018427387904}`,
		`{"iat":-4611686018427387904}`,
		`{"exp":4611686018427387000}`,
		`{"aud":5}`,
		`{"aud":["x",5]}`,
	}
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) {
			var want jwt.Claims
			wantErr := josejson.Unmarshal([]byte(p), &want)
			var m map[string]any
			if err := josejson.Unmarshal([]byte(p), &m); err != nil {
				t.Fatal(err)
			}
			got, err := registeredClaims(m)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("registeredClaims(%s) error = %v; go-jose says %v", p, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("registeredClaims(%s) = %+v; go-jose decodes %+v", p, got, want)
			}
		})
	}
}
