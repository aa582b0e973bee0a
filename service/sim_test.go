package service_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/service/servicetest"
)

// TestAttestSimulatedQuote runs real simulated DCAP quotes through the real
// verifier: accepted only with AllowSimulated, tampering and a runtime
// data mismatch refused.
func TestAttestSimulatedQuote(t *testing.T) {
	sim, err := servicetest.NewSim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ek := newEnclaveKey(t, "rsa")
	quote, err := sim.Quote(ek.runtime)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	strict := newEnv(t, func(o *service.Options) { o.Verifier = sim.Verifier() })
	_, err = strict.anon.Attest(ctx, "SgxEnclave", quote, ek.runtime, "")
	var pe *client.ProblemError
	if !errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(strings.Join(pe.Errors, " "), "simul") {
		t.Fatalf("Attest(sim quote) without AllowSimulated = %v; want 403 naming simulation", err)
	}

	e := newEnv(t, func(o *service.Options) { o.Verifier = sim.Verifier(); o.AllowSimulated = true })
	for _, tc := range []struct {
		kind     string
		evidence []byte
	}{{"SgxEnclave", quote}, {"OpenEnclave", verifier.OpenEnclaveReport(quote)}} {
		tok, err := e.anon.Attest(ctx, tc.kind, tc.evidence, ek.runtime, "")
		if err != nil {
			t.Fatalf("Attest(%s sim quote) = %v", tc.kind, err)
		}
		m := verifyToken(t, e, tok)
		if m["x-confide-simulated"] != true || m["x-ms-sgx-mrenclave"] != strings.Repeat("11", 32) || m["x-ms-sgx-is-debuggable"] != false {
			t.Errorf("%s token claims = %v; want simulated, mrenclave 11…, not debuggable", tc.kind, m)
		}
	}

	bad := bytes.Clone(quote)
	bad[48+100+32] ^= 1 // MRSIGNER
	if _, err := e.anon.Attest(ctx, "SgxEnclave", bad, ek.runtime, ""); !errors.As(err, &pe) || pe.Status != 400 {
		t.Errorf("Attest(tampered quote) = %v; want 400", err)
	}
	if _, err := e.anon.Attest(ctx, "SgxEnclave", quote, []byte(`{"keys":[]}`), ""); !errors.As(err, &pe) || pe.Status != 400 {
		t.Errorf("Attest(quote, other runtime data) = %v; want 400", err)
	}
}

// TestNonceBoundInEvidence checks freshness: runtime data that names the
// service's nonce makes the quote single-use; replaying it with the same or
// a fresh nonce is refused.
func TestNonceBoundInEvidence(t *testing.T) {
	sim, err := servicetest.NewSim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *service.Options) { o.Verifier = sim.Verifier(); o.AllowSimulated = true })
	ctx := context.Background()
	nonce, err := e.anon.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runtime := []byte(`{"keys":[],"nonce":"` + nonce + `"}`)
	quote, err := sim.Quote(runtime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.anon.Attest(ctx, "SgxEnclave", quote, runtime, nonce); err != nil {
		t.Fatalf("Attest(fresh) = %v", err)
	}
	fresh, err := e.anon.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pe *client.ProblemError
	for name, n := range map[string]string{"same nonce": nonce, "fresh nonce": fresh, "no nonce": ""} {
		if _, err := e.anon.Attest(ctx, "SgxEnclave", quote, runtime, n); !errors.As(err, &pe) || pe.Status != 400 {
			t.Errorf("replay with %s = %v; want 400", name, err)
		}
	}
}
