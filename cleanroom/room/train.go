package room

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/confide-dev/confide/cleanroom"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/train"
)

// TrainRelease is what one party receives from a "train" job: the model
// trained on the pooled data (if it receives "model") and the held-out
// metrics of the pooled model and of each party's model trained alone (if
// it receives "metrics"). No row, feature or per-party model leaves.
type TrainRelease struct {
	// Party is the recipient.
	Party string `json:"party"`
	// Model is the pooled model, or nil.
	Model *train.Model `json:"model,omitempty"`
	// Pooled are the pooled model's metrics on the pooled held-out set.
	Pooled *train.Metrics `json:"pooled,omitempty"`
	// Alone maps each party's account prefix to the metrics, on the same
	// held-out set, of the model trained on that party's table only.
	Alone map[string]train.Metrics `json:"alone,omitempty"`
	// TrainExamples counts the pooled training examples.
	TrainExamples int `json:"train_examples"`
}

// trainOptions reads train.Options from a contract job of kind "train".
// Unknown parameter names are an error.
func trainOptions(j contract.Job) (train.Options, error) {
	var o train.Options
	for k, v := range j.Params {
		switch k {
		case "seed":
			if v < 0 || v != math.Trunc(v) {
				return o, fmt.Errorf("%w: seed %v", ErrRequest, v)
			}
			o.Seed = uint64(v)
		case "test_fraction":
			o.TestFraction = v
		case "epochs":
			o.Epochs = int(v)
		case "learning_rate":
			o.LearningRate = v
		case "l2":
			o.L2 = v
		case "threshold":
			o.Threshold = v
		default:
			return o, fmt.Errorf("%w: unknown train parameter %q", ErrRequest, k)
		}
	}
	return o, nil
}

// executeTrain runs a "train" job: each dataset is decrypted inside and
// checked against its digest, the classifier is trained on the pooled
// tables and on each party's alone, and each recipient's release passes
// the output policy (every group it describes at least the minimum size).
func executeTrain(ctx context.Context, c *contract.Contract, inputs map[string]cleanroom.Input) (map[string]*TrainRelease, error) {
	if err := c.Verify(); err != nil {
		return nil, err
	}
	opts, err := trainOptions(c.Job)
	if err != nil {
		return nil, err
	}
	tables := map[string][]ledger.Transaction{}
	for _, d := range c.Datasets {
		in, ok := inputs[d.ID]
		if !ok || d.Digest == "" {
			return nil, fmt.Errorf("%w: dataset %q unpublished or missing", cleanroom.ErrNotReady, d.ID)
		}
		owner, err := c.Party(d.Owner)
		if err != nil {
			return nil, err
		}
		txs, err := decryptTable(in, d.Digest)
		if err != nil {
			return nil, fmt.Errorf("room: dataset %q: %w", d.ID, err)
		}
		tables[owner.AccountPrefix] = append(tables[owner.AccountPrefix], txs...)
	}
	rep, err := train.Compare(tables, opts)
	if err != nil {
		return nil, err
	}
	out := map[string]*TrainRelease{}
	for _, r := range c.Output.Recipients {
		model, metrics := c.Output.Receives(r.Party, "model"), c.Output.Receives(r.Party, "metrics")
		if !model && !metrics {
			continue
		}
		min := c.Output.MinGroupSize
		if rep.Pooled.Train < min || rep.Pooled.Test.Examples < min {
			return nil, &policy.Error{Party: r.Party, Reason: fmt.Sprintf("pooled model over %d training and %d test examples, minimum %d", rep.Pooled.Train, rep.Pooled.Test.Examples, min)}
		}
		rel := &TrainRelease{Party: r.Party, TrainExamples: rep.Pooled.Train}
		if model {
			rel.Model = rep.Pooled.Model
		}
		if metrics {
			m := rep.Pooled.Test
			rel.Pooled = &m
			rel.Alone = map[string]train.Metrics{}
			for bank, res := range rep.Alone {
				if res.Train < min {
					return nil, &policy.Error{Party: r.Party, Reason: fmt.Sprintf("metrics of %s alone over %d examples, minimum %d", bank, res.Train, min)}
				}
				rel.Alone[bank] = res.Test
			}
		}
		out[r.Party] = rel
	}
	return out, nil
}

// decryptTable decrypts a dataset stream inside the enclave into ledger
// rows, checking the ciphertext's digest. Nothing is kept on error.
func decryptTable(in cleanroom.Input, digest string) ([]ledger.Transaction, error) {
	h := sha256.New()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := dataset.Decrypt(pw, io.TeeReader(in.Ciphertext, h), in.Key)
		pw.CloseWithError(err)
		done <- err
	}()
	var txs []ledger.Transaction
	lr := ledger.NewReader(pr)
	var rerr error
	for {
		t, err := lr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
		txs = append(txs, t)
	}
	pr.CloseWithError(errors.New("room: table read ended"))
	if derr := <-done; derr != nil && rerr == nil {
		rerr = derr
	} else if derr != nil && (errors.Is(derr, dataset.ErrAuth) || errors.Is(derr, dataset.ErrFormat)) {
		rerr = derr // the cause of any parse error it provoked
	}
	if rerr != nil {
		return nil, rerr
	}
	want, _ := hex.DecodeString(digest)
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		return nil, dataset.ErrDigest
	}
	return txs, nil
}

// sealJSON encrypts v as JSON to party's result key in c, as policy.Seal
// does for fraud releases (same HPKE suite and info).
func sealJSON(v any, c *contract.Contract, party string) ([]byte, error) {
	p, err := c.Party(party)
	if err != nil {
		return nil, err
	}
	pub, err := p.ResultKey.Parse()
	if err != nil {
		return nil, err
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, err
	}
	hash, err := c.Hash()
	if err != nil {
		return nil, err
	}
	pt, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), append([]byte(policy.ResultInfo), hash[:]...), pt)
}

// OpenTrain verifies out (VerifyOutput) and opens the training release
// sealed in it with the party's result key.
func OpenTrain(ctx context.Context, out *Output, c *contract.Contract, party string, priv *ecdh.PrivateKey, o VerifyOptions) (*TrainRelease, error) {
	if _, err := VerifyOutput(ctx, out, c, party, o); err != nil {
		return nil, err
	}
	k, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	hash, err := c.Hash()
	if err != nil {
		return nil, err
	}
	pt, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), append([]byte(policy.ResultInfo), hash[:]...), out.Sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", policy.ErrOpen, err)
	}
	defer clear(pt)
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	var rel TrainRelease
	if err := dec.Decode(&rel); err != nil || dec.More() || rel.Party != party {
		return nil, fmt.Errorf("%w: malformed training release", policy.ErrOpen)
	}
	return &rel, nil
}
