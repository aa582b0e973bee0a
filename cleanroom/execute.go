package cleanroom

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/policy"
)

// ErrNotReady reports a contract that cannot run yet: a dataset has no
// published digest, or an input is missing.
var ErrNotReady = errors.New("cleanroom: contract not ready to run")

// Input is one dataset's ciphertext and the data key released for it.
type Input struct {
	// Ciphertext reads the published dataset stream.
	Ciphertext io.Reader
	// Key is the dataset's data key.
	Key []byte
}

// ExecuteFraud runs a contract's fraud job the way the enclave does: the
// contract must be active (every party signed), every dataset must have a
// published digest and an input whose ciphertext matches it, each input is
// decrypted straight into the job's in-memory database under its owner's
// account prefix, and the result passes the output policy for every
// recipient. If any recipient's release is refused, nothing is returned.
// Inputs are keyed by dataset ID.
func ExecuteFraud(ctx context.Context, c *contract.Contract, inputs map[string]Input) (map[string]*policy.Release, error) {
	if err := c.Verify(); err != nil {
		return nil, err
	}
	params, err := fraud.ParamsFromJob(c.Job)
	if err != nil {
		return nil, err
	}
	db, err := fraud.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, d := range c.Datasets {
		in, ok := inputs[d.ID]
		if !ok || d.Digest == "" {
			return nil, fmt.Errorf("%w: dataset %q unpublished or missing", ErrNotReady, d.ID)
		}
		owner, err := c.Party(d.Owner)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		if _, err := LoadEncrypted(ctx, db, owner.AccountPrefix, io.TeeReader(in.Ciphertext, h), in.Key); err != nil {
			return nil, fmt.Errorf("cleanroom: dataset %q: %w", d.ID, err)
		}
		want, _ := hex.DecodeString(d.Digest)
		if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
			return nil, fmt.Errorf("cleanroom: dataset %q: %w", d.ID, dataset.ErrDigest)
		}
	}
	res, err := db.Run(ctx, params)
	if err != nil {
		return nil, err
	}
	out := map[string]*policy.Release{}
	for _, r := range c.Output.Recipients {
		if !c.Output.Receives(r.Party, "findings") && !c.Output.Receives(r.Party, "aggregates") {
			continue
		}
		rel, err := policy.Apply(res, c, r.Party)
		if err != nil {
			return nil, err
		}
		out[r.Party] = rel
	}
	return out, nil
}
