package sgx_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/internal/vectors"
)

// peerResult is what attest/testdata/npm/verify.mjs prints.
type peerResult struct {
	OK          bool     `json:"ok"`
	Status      string   `json:"status"`
	AdvisoryIDs []string `json:"advisory_ids"`
	Error       string   `json:"error"`
	NsPerOp     float64  `json:"ns_per_op"`
}

// peer runs the npm package @phala/dcap-qvl-web (dcap-qvl, Rust compiled
// to wasm) on the same quote, collateral and time.
func peer(t *testing.T, dir, quote, coll, at string) peerResult {
	t.Helper()
	out, err := exec.Command("node", filepath.Join(dir, "verify.mjs"), quote, coll, at).Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v", err)
	}
	var r peerResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("verify.mjs printed %q: %v", out, err)
	}
	return r
}

// TestPeerVerifierAgrees checks that our verdicts agree with dcap-qvl's on
// the vectors with collateral, at the pinned time and after expiry. (The
// TDX quote v5 vector is left out: dcap-qvl-web 0.3.3 cannot decode v5.)
func TestPeerVerifierAgrees(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found: install Node.js and npm to compare with @phala/dcap-qvl-web")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "testdata", "npm"))
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	tests := []struct{ kind, quote, coll, at string }{
		{"SgxEnclave", "sgx/dcap-qvl-sgx-quote.bin", "sgx/dcap-qvl-sgx-collateral.json", "2025-07-01T00:00:00Z"},
		{"SgxEnclave", "sgx/dcap-qvl-sgx-quote.bin", "sgx/dcap-qvl-sgx-collateral.json", "2025-09-01T00:00:00Z"},
		{"TdxVm", "tdx/dcap-qvl-tdx-quote.bin", "tdx/dcap-qvl-tdx-collateral.json", "2025-07-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.quote+"@"+tt.at, func(t *testing.T) {
			qp, cp := vectors.Path(t, tt.quote), vectors.Path(t, tt.coll)
			theirs := peer(t, dir, qp, cp, tt.at)
			o := verifier.Options{}
			o.SGX.Getter = collateral(t, tt.coll)
			o.TDX.Getter = o.SGX.Getter
			o.SGX.Now, o.TDX.Now = at(tt.at), at(tt.at)
			c, err := verifier.New(o).Verify(context.Background(), tt.kind, vectors.Read(t, tt.quote))
			ours := err == nil
			if ours != theirs.OK {
				t.Fatalf("we say verified=%v (%v); dcap-qvl says %v (%s)", ours, err, theirs.OK, theirs.Error)
			}
			if ours && (string(c.TCBStatus) != theirs.Status || !slices.Equal(c.AdvisoryIDs, theirs.AdvisoryIDs)) {
				t.Errorf("we say %s %v; dcap-qvl says %s %v", c.TCBStatus, c.AdvisoryIDs, theirs.Status, theirs.AdvisoryIDs)
			}
			t.Logf("ours: %v %v; dcap-qvl: ok=%v %s %v %s", err, c != nil && ours, theirs.OK, theirs.Status, theirs.AdvisoryIDs, theirs.Error)
		})
	}
}
