package cleanroom

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/google/go-cmp/cmp"
)

func TestPipeline(t *testing.T) {
	ctx := context.Background()
	s := synth.Config{Seed: 21, Transactions: 10000}
	enc, err := RunPipeline(ctx, PipelineConfig{Synth: s, ChunkSize: 4096})
	if err != nil {
		t.Fatalf("RunPipeline(encrypted): %v", err)
	}
	plain, err := RunPipeline(ctx, PipelineConfig{Synth: s, Plaintext: true})
	if err != nil {
		t.Fatalf("RunPipeline(plaintext): %v", err)
	}
	if d := cmp.Diff(plain.Result, enc.Result); d != "" {
		t.Errorf("encrypted pipeline result differs from plaintext (-plain +enc):\n%s", d)
	}
	for _, m := range enc.Metrics {
		if m.Recall != 1 {
			t.Errorf("metrics %+v; want recall 1 for every planted kind", m)
		}
	}
	t.Run("markers only inside", func(t *testing.T) {
		for bank, ct := range enc.Ciphertext {
			for _, marker := range enc.Truth.Markers {
				if bytes.Contains(ct, []byte(marker)) {
					t.Errorf("ciphertext of %s contains marker %q", bank, marker)
				}
			}
		}
		for _, f := range enc.Result.Findings {
			for _, marker := range enc.Truth.Markers {
				if bytes.Contains([]byte(f.Account+f.Kind+f.Bank), []byte(marker)) {
					t.Errorf("finding %+v carries a marker", f)
				}
			}
		}
	})
	t.Run("tampered ciphertext aborts", func(t *testing.T) {
		var a, b bytes.Buffer
		if _, err := synth.Generate(synth.Config{Seed: 2, Transactions: 2000}, &a, &b); err != nil {
			t.Fatal(err)
		}
		key := bytes.Repeat([]byte{4}, dataset.KeySize)
		var ct bytes.Buffer
		if _, err := dataset.Encrypt(&ct, &a, key, dataset.Meta{ID: "a", ChunkSize: 1024}); err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(ct.Bytes())
		bad[len(bad)-100] ^= 1 // in the last chunk: earlier chunks load first
		db, err := fraud.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := LoadEncrypted(ctx, db, "BANKA", bytes.NewReader(bad), key); !errors.Is(err, dataset.ErrAuth) {
			t.Errorf("LoadEncrypted(tampered) = %v; want dataset.ErrAuth", err)
		}
		var rows int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM tx").Scan(&rows); err != nil || rows != 0 {
			t.Errorf("after a failed load the database holds %d rows (%v); want 0", rows, err)
		}
		if n, err := LoadEncrypted(ctx, db, "BANKA", bytes.NewReader(ct.Bytes()), key); err != nil || n == 0 {
			t.Errorf("LoadEncrypted(intact) = %d, %v; want rows, nil", n, err)
		}
	})
}

// BenchmarkPipeline compares generate → encrypt → decrypt → job with the
// same pipeline in plaintext; the difference is the cost of encryption.
func BenchmarkPipeline(b *testing.B) {
	const n = 20000
	for _, bc := range []struct {
		name  string
		plain bool
	}{{"plaintext", true}, {"encrypted", false}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				out, err := RunPipeline(context.Background(), PipelineConfig{Synth: synth.Config{Seed: 1, Transactions: n}, Plaintext: bc.plain})
				if err != nil {
					b.Fatal(err)
				}
				_ = out
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
