package demo

import (
	"bufio"
	"bytes"
	"context"
	"github.com/confide-dev/confide/cleanroom"
	"io"
	"strconv"

	"testing"

	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/confide-dev/confide/internal/builtin"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// BenchmarkPipeline measures the clean-room pipeline's throughput in
// transactions per second: "enclave" is a whole run (enclave load,
// attestation, key release, streaming decryption through ocalls, the job,
// the output policy, sealing and signing), "plaintext" the same job and
// policy on the plaintext tables in this process. Both run on the same
// data in the same benchmark run; compare their tx/s.
func BenchmarkPipeline(b *testing.B) {
	enclavetest.RequireSelfEnclave(b)
	for _, n := range []int{20000, 100000} {
		b.Run(sizeName(n), func(b *testing.B) { benchPipeline(b, n) })
	}
}

func sizeName(n int) string {
	if n%1000 == 0 {
		return "tx=" + strconv.Itoa(n/1000) + "k"
	}
	return "tx=" + strconv.Itoa(n)
}

func benchPipeline(b *testing.B, n int) {
	ctx := context.Background()
	w := &world{cfg: Config{Dir: b.TempDir(), Transactions: n, Seed: 1, Sign: builtin.SignSelf}, log: func(string, ...any) {}}
	stop, err := w.setup(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	if err := w.publish(ctx); err != nil {
		b.Fatal(err)
	}
	c, err := w.agree(ctx, "fraud", "bench", 1, 5)
	if err != nil {
		b.Fatal(err)
	}
	req, err := w.storeKeys(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	tx := float64(w.truth.Transactions)

	b.Run("enclave", func(b *testing.B) {
		for b.Loop() {
			if _, err := room.Run(ctx, w.image, req, w.roomOptions(false, nil, nil)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(tx*float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run("encrypted-in-process", func(b *testing.B) {
		for b.Loop() {
			inputs := map[string]cleanroom.Input{}
			var closers []io.Closer
			for _, bk := range w.banks {
				rc, err := w.store.Get(ctx, bk.dataset)
				if err != nil {
					b.Fatal(err)
				}
				closers = append(closers, rc)
				inputs[bk.dataset] = cleanroom.Input{Ciphertext: bufio.NewReaderSize(rc, room.ReadChunk), Key: bk.dataKey}
			}
			rels, err := cleanroom.ExecuteFraud(ctx, c, inputs)
			if err != nil {
				b.Fatal(err)
			}
			for _, bk := range w.banks {
				if _, err := policy.Seal(rels[bk.name], c); err != nil {
					b.Fatal(err)
				}
			}
			for _, cl := range closers {
				cl.Close()
			}
		}
		b.ReportMetric(tx*float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run("plaintext", func(b *testing.B) {
		var ta, tb bytes.Buffer
		if _, err := synth.Generate(w.synthConfig(), &ta, &tb); err != nil {
			b.Fatal(err)
		}
		params, err := fraud.ParamsFromJob(c.Job)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := fraud.Run(ctx, params,
				fraud.Table{Bank: w.banks[0].prefix, R: bytes.NewReader(ta.Bytes())},
				fraud.Table{Bank: w.banks[1].prefix, R: bytes.NewReader(tb.Bytes())})
			if err != nil {
				b.Fatal(err)
			}
			for _, bk := range w.banks {
				if _, err := policy.Apply(res, c, bk.name); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(tx*float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
}
