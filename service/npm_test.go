package service_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/service/servicetest"
)

// TestAzureAttestationSDK attests against the service with the real
// @azure/attestation 1.0.0 npm package (installed by npm ci into
// testdata/npm), which validates the token against /certs, and reads the
// policy through its administration client.
func TestAzureAttestationSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("installs npm packages and runs node")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found; install Node.js and npm to run the @azure/attestation compatibility test")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "npm"))
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}

	ts := httptest.NewUnstartedServer(nil)
	url := "https://" + ts.Listener.Addr().String()
	sim, err := servicetest.NewSim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(context.Background(), service.Options{DataDir: t.TempDir(), Verifier: sim.Verifier(), AllowSimulated: true, Issuer: url,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.StartTLS()
	defer ts.Close()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	runtime := []byte(`{"keys":[{"kty":"oct","kid":"k"}],"app":"npm"}`)
	quote, err := sim.Quote(runtime)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "attest.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+ca,
		"CONFIDE_URL="+url,
		"CONFIDE_QUOTE="+b64.EncodeToString(quote),
		"CONFIDE_RUNTIME="+string(runtime),
		"CONFIDE_ADMIN="+srv.AdminToken(),
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node attest.js: %v\n%s", err, stderr.String())
	}
	var got struct {
		Signers   int            `json:"signers"`
		Issuer    string         `json:"issuer"`
		MrEnclave string         `json:"mrEnclave"`
		MrSigner  string         `json:"mrSigner"`
		ProductID float64        `json:"productId"`
		SVN       float64        `json:"svn"`
		Runtime   map[string]any `json:"runtime"`
		Policy    string         `json:"policy"`
		Refused   string         `json:"refused"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if got.Signers != 1 || got.Issuer != url || got.MrEnclave != strings.Repeat("11", 32) || got.MrSigner != strings.Repeat("22", 32) ||
		got.ProductID != 1 || got.SVN != 2 || got.Runtime["app"] != "npm" {
		t.Errorf("SDK attestation result = %+v; want the simulated quote's claims and issuer %s", got, url)
	}
	if got.Policy != service.DefaultPolicy {
		t.Errorf("SDK getPolicy = %q; want the default policy", got.Policy)
	}
	if got.Refused != "400" {
		t.Errorf("SDK attest of bad evidence = %q; want HTTP 400", got.Refused)
	}
}
