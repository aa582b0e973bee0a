package service_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/confide-dev/confide/service/servicetest"
)

// fuzzStatusOK reports whether a response to arbitrary input is one the
// service may give: success or a client error, never a server error.
func fuzzCheck(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d on fuzzed input; want < 500", resp.StatusCode)
	}
	if resp.StatusCode != 200 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q; want application/problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func FuzzAttestRequest(f *testing.F) {
	e := newEnv(f, nil)
	ek := newEnclaveKey(f, "rsa")
	good, _ := jsonBytes(attestBody(servicetest.SGXClaims(ek.runtime), ek.runtime, ""))
	f.Add(good)
	f.Add([]byte(`{"quote":"AAAA","runtimeData":{"data":"e30","dataType":"JSON"},"initTimeData":{"data":"","dataType":"Binary"},"draftPolicyForAttestation":"package policy"}`))
	f.Add([]byte(`{"report":"AAAA"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := http.Post(e.url+"/attest/SgxEnclave?api-version=2022-08-01", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		fuzzCheck(t, resp)
	})
}

func FuzzReleaseRequest(f *testing.F) {
	e := newEnv(f, nil)
	ek := newEnclaveKey(f, "ec")
	if err := e.admin.Put(f.Context(), "/keys/k", "7.4", map[string]any{"kty": "oct-HSM", "release_policy": skrPolicy(e.url, "11")}, nil); err != nil {
		f.Fatal(err)
	}
	tok, err := e.anon.Attest(f.Context(), "SgxEnclave", servicetest.Evidence(servicetest.SGXClaims(ek.runtime)), ek.runtime, "")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := jsonBytes(map[string]string{"target": tok, "nonce": "n", "enc": "CKM_RSA_AES_KEY_WRAP"})
	f.Add(good)
	f.Add([]byte(`{"target":"a.b.c"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := http.Post(e.url+"/keys/k/release?api-version=7.4", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		fuzzCheck(t, resp)
	})
}

func FuzzPolicyBody(f *testing.F) {
	e := newEnv(f, nil)
	f.Add([]byte(policyJWS("package policy\ndeny contains \"x\" if input.a == 1\n")))
	f.Add([]byte(policyJWS("version=1.0; authorizationrules { => permit(); };")))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("PUT", e.url+"/policies/TdxVm?api-version=2022-08-01", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.srv.AdminToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		fuzzCheck(t, resp)
	})
}
