package cleanroom

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/synth"
)

// PipelineConfig configures RunPipeline.
type PipelineConfig struct {
	// Synth shapes the generated data; its zero value is synth's defaults.
	Synth synth.Config
	// Params are the fraud job parameters; zero means fraud's defaults.
	Params fraud.Params
	// Plaintext skips encryption: the tables go straight to the job. It is
	// the baseline for measuring what encryption costs.
	Plaintext bool
	// ChunkSize is the dataset chunk size; zero means dataset.DefaultChunkSize.
	ChunkSize int
}

// PipelineOutcome is what RunPipeline produced.
type PipelineOutcome struct {
	// Truth is the planted ground truth.
	Truth *synth.Truth
	// Result is the job's raw result (not yet filtered by any policy).
	Result *fraud.Result
	// Metrics score the findings against Truth, per kind.
	Metrics []fraud.Metrics
	// Ciphertext holds each bank's encrypted table (nil when Plaintext).
	Ciphertext map[string][]byte
}

// RunPipeline generates two banks' tables, encrypts each under a fresh
// random data key as its owner would, decrypts them as the enclave would,
// streaming straight into the fraud job's in-memory database, and scores
// the findings. Plaintext tables are never held whole when encrypting: each
// streams from the generator through the encryptor.
func RunPipeline(ctx context.Context, cfg PipelineConfig) (*PipelineOutcome, error) {
	bankA, bankB := cfg.Synth.BankA, cfg.Synth.BankB
	if bankA == "" {
		bankA = "BANKA"
	}
	if bankB == "" {
		bankB = "BANKB"
	}
	out := &PipelineOutcome{}
	var inputs [2]io.Reader
	var keys [2][]byte
	if cfg.Plaintext {
		var a, b bytes.Buffer
		tr, err := synth.Generate(cfg.Synth, &a, &b)
		if err != nil {
			return nil, err
		}
		out.Truth = tr
		inputs = [2]io.Reader{&a, &b}
	} else {
		var pr [2]*io.PipeReader
		var pw [2]*io.PipeWriter
		var ct [2]bytes.Buffer
		errs := make(chan error, 2)
		for i, bank := range []string{bankA, bankB} {
			keys[i] = make([]byte, dataset.KeySize)
			if _, err := rand.Read(keys[i]); err != nil {
				return nil, err
			}
			defer clear(keys[i])
			pr[i], pw[i] = io.Pipe()
			go func() {
				_, err := dataset.Encrypt(&ct[i], pr[i], keys[i], dataset.Meta{ID: bank, ChunkSize: cfg.ChunkSize})
				pr[i].CloseWithError(err)
				errs <- err
			}()
		}
		// Large buffers keep the generator and the encryptors from handing
		// the pipes small pieces.
		ba, bb := bufio.NewWriterSize(pw[0], 64<<10), bufio.NewWriterSize(pw[1], 64<<10)
		tr, genErr := synth.Generate(cfg.Synth, ba, bb)
		if genErr == nil {
			genErr = errors.Join(ba.Flush(), bb.Flush())
		}
		pw[0].CloseWithError(genErr)
		pw[1].CloseWithError(genErr)
		encErr := errors.Join(<-errs, <-errs)
		if genErr != nil {
			return nil, genErr
		}
		if encErr != nil {
			return nil, encErr
		}
		out.Truth = tr
		out.Ciphertext = map[string][]byte{bankA: ct[0].Bytes(), bankB: ct[1].Bytes()}
		inputs = [2]io.Reader{bytes.NewReader(ct[0].Bytes()), bytes.NewReader(ct[1].Bytes())}
	}

	db, err := fraud.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for i, bank := range []string{bankA, bankB} {
		if cfg.Plaintext {
			_, err = db.Load(ctx, fraud.Table{Bank: bank, R: inputs[i]})
		} else {
			_, err = LoadEncrypted(ctx, db, bank, inputs[i], keys[i])
		}
		if err != nil {
			return nil, fmt.Errorf("cleanroom: load %s: %w", bank, err)
		}
	}
	if out.Result, err = db.Run(ctx, cfg.Params); err != nil {
		return nil, err
	}
	out.Metrics = []fraud.Metrics{
		fraud.Score(out.Result.Findings, fraud.Mule, out.Truth.Mules),
		fraud.Score(out.Result.Findings, fraud.Layering, out.Truth.ChainAccounts()),
		fraud.Score(out.Result.Findings, fraud.Velocity, out.Truth.Bursts),
	}
	return out, nil
}

// LoadEncrypted decrypts a bank's dataset stream and streams the plaintext
// into db. If the stream fails to authenticate at any chunk, the load fails
// with the dataset error (dataset.ErrAuth or dataset.ErrFormat) and the
// rows already read are rolled back, so nothing unauthenticated is kept.
func LoadEncrypted(ctx context.Context, db *fraud.DB, bank string, ciphertext io.Reader, key []byte) (int, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := dataset.Decrypt(pw, ciphertext, key)
		pw.CloseWithError(err)
		done <- err
	}()
	n, err := db.Load(ctx, fraud.Table{Bank: bank, R: bufio.NewReaderSize(pr, 64<<10)})
	errEnded := errors.New("cleanroom: load ended")
	pr.CloseWithError(errEnded)
	// A decryption failure is the cause of any load error it provoked; a
	// decryptor stopped because the load ended reports the load's error.
	if derr := <-done; derr != nil && !errors.Is(derr, errEnded) {
		return 0, derr
	}
	return n, err
}
