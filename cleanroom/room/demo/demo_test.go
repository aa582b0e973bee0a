package demo_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/cleanroom/room/demo"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/confide-dev/confide/cleanroom/train"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// TestMain makes the test binary double as the clean-room enclave, as the
// confide binary does: the demo signs this binary and a host starts it.
func TestMain(m *testing.M) {
	if enclave.Running() {
		if err := enclave.Run(room.Ecalls()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recorder keeps everything the host handled.
type recorder struct {
	mu   sync.Mutex
	seen map[string]*bytes.Buffer
}

func (r *recorder) observe(channel string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[channel] == nil {
		r.seen[channel] = &bytes.Buffer{}
	}
	r.seen[channel].Write(data)
}

func TestDemo(t *testing.T) {
	enclavetest.RequireSelfEnclave(t)
	rec := &recorder{seen: map[string]*bytes.Buffer{}}
	dir := t.TempDir()
	rep, err := demo.Run(context.Background(), demo.Config{
		Dir: dir, Transactions: 4000, Seed: 7, Sign: builtin.SignSelf, Observe: rec.observe,
	})
	if err != nil {
		t.Fatalf("demo.Run = %v", err)
	}

	t.Run("scores against the planted truth", func(t *testing.T) {
		tr := rep.Truth
		if len(tr.Mules) == 0 || len(tr.Chains) == 0 || len(tr.Bursts) == 0 {
			t.Fatalf("truth = %+v; want planted fraud of every kind", tr)
		}
		var tp, fp, fn int
		for _, m := range rep.Kinds {
			tp, fp, fn = tp+m.TruePositives, fp+m.FalsePositives, fn+m.FalseNegatives
			if m.Recall < 1 {
				t.Errorf("%s recall = %.3f; want 1 (every planted case found)", m.Kind, m.Recall)
			}
		}
		if want := len(tr.Mules) + len(tr.ChainAccounts()) + len(tr.Bursts); tp+fn != want {
			t.Errorf("tp+fn = %d; want the %d planted accounts", tp+fn, want)
		}
		if p := float64(tp) / float64(tp+fp); rep.Precision != p || p < 0.9 {
			t.Errorf("precision = %v (from counts %v); want the counts' value, at least 0.9", rep.Precision, p)
		}
		if rep.Recall != float64(tp)/float64(tp+fn) {
			t.Errorf("recall = %v; want tp/(tp+fn)", rep.Recall)
		}
		if !rep.Enclave.Simulated || rep.Enclave.ProductID != demo.ProductID {
			t.Errorf("enclave = %+v; want the simulated clean-room enclave", rep.Enclave)
		}
		for name, b := range rep.Banks {
			if len(b.Findings) == 0 || b.Withheld == 0 {
				t.Errorf("bank %s = %+v; want findings, and the other bank's withheld", name, b)
			}
		}
	})

	t.Run("training leaves only the model and metrics", func(t *testing.T) {
		tr := rep.Training
		if tr == nil {
			t.Fatal("no training report")
		}
		if tr.ModelWeights != len(train.FeatureNames()) || tr.Pooled.Examples == 0 || len(tr.Alone) != 2 {
			t.Errorf("training = %+v; want a model over every feature, pooled metrics and both banks alone", tr)
		}
		for bank, m := range tr.Alone {
			if m.Examples != tr.Pooled.Examples {
				t.Errorf("%s alone evaluated on %d examples; want the pooled held-out set of %d", bank, m.Examples, tr.Pooled.Examples)
			}
		}
	})

	t.Run("negative checks refused with the right class", func(t *testing.T) {
		want := map[string]error{
			demo.CheckModifiedEnclave:     image.ErrSignature,
			demo.CheckDebugEnclave:        room.ErrAttestation,
			demo.CheckUnsignedContract:    contract.ErrUnsigned,
			demo.CheckRawRows:             policy.ErrOutputPolicy,
			demo.CheckSmallGroups:         policy.ErrOutputPolicy,
			demo.CheckReplayedAttestation: nil, // a service problem, checked below
			demo.CheckReplayedToken:       demo.ErrReplayed,
			demo.CheckOutputSignature:     room.ErrOutput,
			demo.CheckOutputEvidence:      room.ErrOutput,
		}
		if len(rep.Checks) != len(want) {
			t.Errorf("%d checks; want %d", len(rep.Checks), len(want))
		}
		for _, c := range rep.Checks {
			w, ok := want[c.Name]
			switch {
			case !ok:
				t.Errorf("unexpected check %s", c.Name)
			case c.Err == nil:
				t.Errorf("%s was not refused", c.Name)
			case c.Name == demo.CheckReplayedAttestation:
				var pe *client.ProblemError
				if !errors.As(c.Err, &pe) || pe.Type != "https://confide.dev/problems/nonce" {
					t.Errorf("%s = %v; want the service's nonce problem", c.Name, c.Err)
				}
			case !errors.Is(c.Err, w):
				t.Errorf("%s = %v; want %v", c.Name, c.Err, w)
			}
			if rep.NegativeChecks[c.Name] == "" {
				t.Errorf("negative_checks[%s] is empty", c.Name)
			}
		}
	})

	t.Run("host never sees plaintext", func(t *testing.T) {
		markers := rep.Truth.Markers
		if len(markers) != 2 {
			t.Fatalf("markers = %v; want one per bank", markers)
		}
		// The markers are in the banks' plaintext, so their absence below
		// means something.
		var a, b bytes.Buffer
		if _, err := synth.Generate(synth.Config{Seed: 7, Transactions: 4000, BankA: "BANKA", BankB: "BANKB"}, &a, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(a.Bytes(), []byte(markers["BANKA"])) || !bytes.Contains(b.Bytes(), []byte(markers["BANKB"])) {
			t.Fatalf("markers %v are not in the regenerated plaintext", markers)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, ch := range []string{"ocall-in", "ocall-out", "net-read", "net-write", "ecall-in", "ecall-out"} {
			if rec.seen[ch] == nil || rec.seen[ch].Len() == 0 {
				t.Errorf("channel %s saw nothing; the observer is not wired", ch)
			}
		}
		// The data crossed the boundary, as ciphertext: the ocalls carried
		// at least the published bytes.
		var published int64
		filepath.WalkDir(filepath.Join(dir, "storage"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fi, _ := d.Info()
				published += fi.Size()
			}
			return nil
		})
		if got := int64(rec.seen["ocall-out"].Len()); got < published {
			t.Errorf("ocalls carried %d bytes out of the host; want at least the %d published", got, published)
		}
		for bank, m := range markers {
			for ch, b := range rec.seen {
				if bytes.Contains(b.Bytes(), []byte(m)) {
					t.Errorf("%s's marker crossed the host on %s", bank, ch)
				}
			}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("read %s: %v", p, err)
				}
				if bytes.Contains(b, []byte(m)) {
					t.Errorf("%s's marker is in %s", bank, p)
				}
				return nil
			})
		}
	})
}
