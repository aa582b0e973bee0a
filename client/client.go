package client

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/confide-dev/confide/service/skr"
)

// Options configure a Client.
type Options struct {
	// HTTPClient sends requests. Zero: a client of its own with a 30 s
	// timeout, whose transport keeps up to 64 idle connections to the
	// service, so concurrent calls reuse connections rather than dial.
	HTTPClient *http.Client
	// AttestAPIVersion is sent to attestation endpoints. Zero: "2022-08-01".
	AttestAPIVersion string
	// AdminToken is sent as a bearer token to management endpoints. Zero:
	// none.
	AdminToken string
}

// Client is a confide service client.
type Client struct {
	base  string // scheme://host[/path], no trailing slash
	hc    *http.Client
	apiV  string
	admin string
}

// ProblemError is a problem+json error returned by the service.
type ProblemError struct {
	// Status is the HTTP status.
	Status int
	// Type, Title and Detail are the problem's fields.
	Type, Title, Detail string
	// Errors lists every failed policy rule for denials.
	Errors []string
}

func (e *ProblemError) Error() string {
	s := fmt.Sprintf("client: service refused (%d %s): %s", e.Status, e.Title, e.Detail)
	if len(e.Errors) > 0 {
		s += " [" + strings.Join(e.Errors, "; ") + "]"
	}
	return s
}

// ErrNetwork is matched when the service could not be reached.
var ErrNetwork = errors.New("client: service unreachable")

// New returns a client for the service at baseURL.
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: service URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u.String(), apiV: "2022-08-01"}
	if opts != nil {
		c.hc = opts.HTTPClient
		if opts.AttestAPIVersion != "" {
			c.apiV = opts.AttestAPIVersion
		}
		c.admin = opts.AdminToken
	}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxIdle
		t.MaxIdleConns = maxIdle
		c.hc = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	return c, nil
}

// maxIdle is how many idle connections the default transport keeps.
const maxIdle = 64

func (c *Client) do(ctx context.Context, method, path, apiVersion string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if apiVersion != "" {
		u += "?api-version=" + url.QueryEscape(apiVersion)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.admin != "" {
		req.Header.Set("Authorization", "Bearer "+c.admin)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNetwork, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNetwork, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Type, Title, Detail string
			Errors              []string
		}
		json.Unmarshal(b, &p)
		return &ProblemError{Status: resp.StatusCode, Type: p.Type, Title: p.Title, Detail: p.Detail, Errors: p.Errors}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: response: %w", err)
	}
	return nil
}

// attestBody is the body of POST /attest/{type}.
type attestBody struct {
	Quote       string    `json:"quote,omitempty"`
	Report      string    `json:"report,omitempty"`
	RuntimeData *wireData `json:"runtimeData,omitempty"`
	Nonce       string    `json:"nonce,omitempty"`
}

// wireData is runtime data as the service takes it.
type wireData struct {
	Data     string `json:"data"`
	DataType string `json:"dataType"`
}

// Nonce asks the service for a single-use nonce.
func (c *Client) Nonce(ctx context.Context) (string, error) {
	var r struct {
		Nonce string `json:"nonce"`
	}
	if err := c.do(ctx, http.MethodGet, "/nonce", "", nil, &r); err != nil {
		return "", err
	}
	return r.Nonce, nil
}

// Attest sends evidence of kind ("SgxEnclave", "OpenEnclave", "TdxVm") with
// runtimeData (sent with dataType JSON when it is valid JSON, else Binary;
// nil sends none) and nonce (empty sends none), and returns the token.
func (c *Client) Attest(ctx context.Context, kind string, evidence, runtimeData []byte, nonce string) (string, error) {
	var body attestBody
	ev := base64.RawURLEncoding.EncodeToString(evidence)
	if kind == "OpenEnclave" {
		body.Report = ev
	} else {
		body.Quote = ev
	}
	if runtimeData != nil {
		dt := "Binary"
		if json.Valid(runtimeData) {
			dt = "JSON"
		}
		body.RuntimeData = &wireData{Data: base64.RawURLEncoding.EncodeToString(runtimeData), DataType: dt}
	}
	body.Nonce = nonce
	var r struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/attest/"+url.PathEscape(kind), c.apiV, body, &r); err != nil {
		return "", err
	}
	return r.Token, nil
}

// Certs returns the service's token signing keys.
func (c *Client) Certs(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := c.do(ctx, http.MethodGet, "/certs", "", nil, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// Release asks for the latest version of key keyName to be released to the
// holder of token and returns the response JWS (see Unwrap).
func (c *Client) Release(ctx context.Context, keyName, token string) (string, error) {
	return c.release(ctx, "/keys/"+url.PathEscape(keyName)+"/release", token)
}

// ReleaseSecret is Release for a secret.
func (c *Client) ReleaseSecret(ctx context.Context, name, token string) (string, error) {
	return c.release(ctx, "/secrets/"+url.PathEscape(name)+"/release", token)
}

func (c *Client) release(ctx context.Context, path, token string) (string, error) {
	var r struct {
		Value string `json:"value"`
	}
	body := struct {
		Target string `json:"target"`
	}{token}
	if err := c.do(ctx, http.MethodPost, path, "7.4", body, &r); err != nil {
		return "", err
	}
	return r.Value, nil
}

// Put sends an admin PUT of body to path (e.g. "/keys/name" with api-version
// "7.4") and decodes the response into out.
func (c *Client) Put(ctx context.Context, path, apiVersion string, body, out any) error {
	return c.do(ctx, http.MethodPut, path, apiVersion, body, out)
}

// ErrRelease is matched when a release response does not verify or decode.
var ErrRelease = errors.New("client: bad release response")

// Unwrap verifies the release response value against the service's keys
// (keys from Certs; nil skips the check, for callers that verified it
// already) and unwraps the key or secret with priv, the private half of
// the first key in the token's x-ms-runtime.keys.
func Unwrap(value string, keys *jose.JSONWebKeySet, priv crypto.PrivateKey) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(value, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRelease, err)
	}
	var payload []byte
	if keys != nil {
		var kl []jose.JSONWebKey
		if len(jws.Signatures) == 1 {
			kl = keys.Key(jws.Signatures[0].Header.KeyID)
		}
		for _, k := range kl {
			if payload, err = jws.Verify(k.Key); err == nil {
				break
			}
		}
		if payload == nil {
			return nil, fmt.Errorf("%w: signature does not verify against the service keys", ErrRelease)
		}
	} else {
		payload = jws.UnsafePayloadWithoutVerification()
	}
	var p struct {
		Response struct {
			Key *struct {
				Key struct {
					KeyHSM string `json:"key_hsm"`
				} `json:"key"`
			} `json:"key"`
			Secret *struct {
				ValueHSM string `json:"value_hsm"`
			} `json:"secret"`
		} `json:"response"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRelease, err)
	}
	var hsm string
	switch {
	case p.Response.Key != nil:
		hsm = p.Response.Key.Key.KeyHSM
	case p.Response.Secret != nil:
		hsm = p.Response.Secret.ValueHSM
	default:
		return nil, fmt.Errorf("%w: no key or secret in the response", ErrRelease)
	}
	k, err := skr.ParseKeyHSM(hsm)
	if err != nil {
		return nil, err
	}
	return skr.Unwrap(k, priv)
}
