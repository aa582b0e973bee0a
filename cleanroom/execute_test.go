package cleanroom

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/synth"
)

type bank struct {
	name, prefix string
	sign         ed25519.PrivateKey
	key          []byte
	plain        bytes.Buffer
}

// setup generates both banks' data, publishes it encrypted to a directory
// store, and returns a contract naming the digests, signed by both banks.
func setup(t *testing.T, minGroup int) (*contract.Contract, map[string]Input, *synth.Truth, dataset.Store) {
	t.Helper()
	ctx := context.Background()
	banks := []*bank{{name: "bank-a", prefix: "BANKA"}, {name: "bank-b", prefix: "BANKB"}}
	tr, err := synth.Generate(synth.Config{Seed: 4, Transactions: 10000}, &banks[0].plain, &banks[1].plain)
	if err != nil {
		t.Fatal(err)
	}
	store := dataset.DirStore{Dir: t.TempDir()}
	c := &contract.Contract{Version: 1, ID: "fraud-demo", Revision: 1,
		Job: contract.Job{Kind: "fraud", Params: map[string]float64{"mule_min_senders": 3}},
		Output: contract.OutputPolicy{MinGroupSize: minGroup, Columns: []string{"kind", "account", "score"},
			Recipients: []contract.Recipient{
				{Party: "bank-a", Receives: []string{"findings", "aggregates"}},
				{Party: "bank-b", Receives: []string{"findings", "aggregates"}},
			}},
		Enclave: contract.EnclavePolicy{SignerID: strings.Repeat("ab", 32), ProductID: 1, MinSecurityVersion: 1},
	}
	inputs := map[string]Input{}
	schema := []dataset.Column{}
	for _, col := range ledger.Columns() {
		schema = append(schema, dataset.Column{Name: col, Type: "string"})
	}
	for _, b := range banks {
		_, b.sign, _ = ed25519.GenerateKey(rand.Reader)
		sk, _ := contract.EncodeSigningKey(b.sign.Public())
		x, _ := ecdh.X25519().GenerateKey(rand.Reader)
		rk, _ := contract.NewResultKey(x.PublicKey())
		c.Parties = append(c.Parties, contract.Party{Name: b.name, SigningKey: sk, ResultKey: rk, AccountPrefix: b.prefix})
		b.key = make([]byte, dataset.KeySize)
		rand.Read(b.key)
		id := b.name + "-2026"
		d, err := dataset.Publish(ctx, store, id, bytes.NewReader(b.plain.Bytes()), b.key, dataset.Meta{ID: id, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		c.Datasets = append(c.Datasets, contract.Dataset{ID: id, Owner: b.name, Schema: schema, Digest: hex.EncodeToString(d[:])})
		rc, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		inputs[id] = Input{Ciphertext: rc, Key: b.key}
	}
	for _, b := range banks {
		if err := c.Sign(b.name, b.sign); err != nil {
			t.Fatal(err)
		}
	}
	return c, inputs, tr, store
}

func TestExecuteFraud(t *testing.T) {
	ctx := context.Background()
	t.Run("releases", func(t *testing.T) {
		c, inputs, tr, _ := setup(t, 3)
		rels, err := ExecuteFraud(ctx, c, inputs)
		if err != nil {
			t.Fatalf("ExecuteFraud: %v", err)
		}
		for party, prefix := range map[string]string{"bank-a": "BANKA", "bank-b": "BANKB"} {
			rel := rels[party]
			if rel == nil || len(rel.Rows) == 0 {
				t.Fatalf("no findings released to %s", party)
			}
			var found []string
			for _, row := range rel.Rows {
				if ledger.Bank(row[1]) != prefix {
					t.Errorf("%s received a finding about %s; want only its own accounts", party, row[1])
				}
				found = append(found, row[1])
				for _, m := range tr.Markers {
					if strings.Contains(strings.Join(row, ","), m) {
						t.Errorf("release to %s contains a marker", party)
					}
				}
			}
			// Every planted burst at this bank reaches it.
			for _, acct := range tr.Bursts {
				if ledger.Bank(acct) == prefix && !slices.Contains(found, acct) {
					t.Errorf("%s did not receive the finding about its own account %s", party, acct)
				}
			}
		}
	})
	t.Run("small groups refused", func(t *testing.T) {
		c, inputs, _, _ := setup(t, 1000)
		if _, err := ExecuteFraud(ctx, c, inputs); !errors.Is(err, policy.ErrOutputPolicy) {
			t.Errorf("ExecuteFraud(min group 1000) = %v; want ErrOutputPolicy", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		c, inputs, _, _ := setup(t, 3)
		c.Signatures = c.Signatures[:1]
		if _, err := ExecuteFraud(ctx, c, inputs); !errors.Is(err, contract.ErrUnsigned) {
			t.Errorf("ExecuteFraud(one signature) = %v; want ErrUnsigned", err)
		}
	})
	t.Run("swapped dataset", func(t *testing.T) {
		c, inputs, _, store := setup(t, 3)
		// Bank B's ciphertext offered as bank A's dataset, with bank B's key:
		// it decrypts, but it is not what the contract names.
		rc, _ := store.Get(ctx, "bank-b-2026")
		defer rc.Close()
		inputs["bank-a-2026"] = Input{Ciphertext: rc, Key: inputs["bank-b-2026"].Key}
		_, err := ExecuteFraud(ctx, c, inputs)
		if !errors.Is(err, dataset.ErrDigest) && !errors.Is(err, fraud.ErrTable) {
			t.Errorf("ExecuteFraud(swapped dataset) = %v; want ErrDigest or ErrTable", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		c, inputs, _, _ := setup(t, 3)
		in := inputs["bank-a-2026"]
		in.Key = bytes.Repeat([]byte{1}, 32)
		inputs["bank-a-2026"] = in
		if _, err := ExecuteFraud(ctx, c, inputs); !errors.Is(err, dataset.ErrAuth) {
			t.Errorf("ExecuteFraud(wrong key) = %v; want dataset.ErrAuth", err)
		}
	})
	t.Run("missing input", func(t *testing.T) {
		c, inputs, _, _ := setup(t, 3)
		delete(inputs, "bank-b-2026")
		if _, err := ExecuteFraud(ctx, c, inputs); !errors.Is(err, ErrNotReady) {
			t.Errorf("ExecuteFraud(missing input) = %v; want ErrNotReady", err)
		}
	})
}
