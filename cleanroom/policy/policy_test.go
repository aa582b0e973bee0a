package policy

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/ledger"
)

func testContract(t *testing.T) *contract.Contract {
	t.Helper()
	c := &contract.Contract{Version: 1, ID: "c", Revision: 1, Job: contract.Job{Kind: "fraud"},
		Enclave: contract.EnclavePolicy{SignerID: strings.Repeat("22", 32)},
		Output: contract.OutputPolicy{
			MinGroupSize: 3, Columns: []string{"kind", "account", "score"},
			Recipients: []contract.Recipient{
				{Party: "bank-a", Receives: []string{"findings", "aggregates"}},
				{Party: "bank-b", Receives: []string{"findings"}},
			},
		},
	}
	for _, n := range []string{"bank-a", "bank-b", "bank-c"} {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		sk, _ := contract.EncodeSigningKey(pub)
		x, _ := ecdh.X25519().GenerateKey(rand.Reader)
		rk, _ := contract.NewResultKey(x.PublicKey())
		c.Parties = append(c.Parties, contract.Party{Name: n, SigningKey: sk, ResultKey: rk, AccountPrefix: strings.ToUpper(strings.ReplaceAll(n, "-", ""))})
		c.Datasets = append(c.Datasets, contract.Dataset{ID: n, Owner: n, Schema: []dataset.Column{{Name: "id", Type: "string"}}})
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func result() *fraud.Result {
	return &fraud.Result{
		Findings: []fraud.Finding{
			{Kind: fraud.Mule, Account: "EXT-P1", Bank: "EXT", Score: 6, Count: 6, Amount: 100},
			{Kind: fraud.Mule, Account: "BANKA-1", Bank: "BANKA", Score: 7, Count: 7, Amount: 200},
			{Kind: fraud.Layering, Account: "BANKB-2", Bank: "BANKB", Score: 5.5, Count: 5, Amount: 300},
			{Kind: fraud.Velocity, Account: "BANKA-3", Bank: "BANKA", Score: 25, Count: 25, Amount: 400},
		},
		Aggregates: []fraud.Aggregate{{Name: "transactions", GroupSize: 1000, Value: 1000}, {Name: "accounts.mule", GroupSize: 3, Value: 3}},
	}
}

func accounts(rel *Release) []string {
	i := slices.Index(rel.Columns, "account")
	var out []string
	for _, r := range rel.Rows {
		out = append(out, r[i])
	}
	slices.Sort(out)
	return out
}

func TestVisibility(t *testing.T) {
	tests := []struct {
		name         string
		party        string
		counterparty bool
		external     bool
		want         []string
	}{
		{"own only A", "bank-a", false, false, []string{"BANKA-1", "BANKA-3"}},
		{"own only B", "bank-b", false, false, []string{"BANKB-2"}},
		{"with external", "bank-b", false, true, []string{"BANKB-2", "EXT-P1"}},
		{"with counterparty", "bank-b", true, false, []string{"BANKA-1", "BANKA-3", "BANKB-2"}},
		{"everything", "bank-a", true, true, []string{"BANKA-1", "BANKA-3", "BANKB-2", "EXT-P1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testContract(t)
			c.Output.ShareCounterparty, c.Output.ShareExternal = tt.counterparty, tt.external
			rel, err := Apply(result(), c, tt.party)
			if err != nil {
				t.Fatalf("Apply() = %v", err)
			}
			if got := accounts(rel); !slices.Equal(got, tt.want) {
				t.Errorf("Apply(%s) accounts = %v; want %v", tt.party, got, tt.want)
			}
			if rel.Withheld != 4-len(tt.want) {
				t.Errorf("Apply(%s).Withheld = %d; want %d", tt.party, rel.Withheld, 4-len(tt.want))
			}
		})
	}
}

func TestColumnsAndRecipients(t *testing.T) {
	c := testContract(t)
	rel, err := Apply(result(), c, "bank-a")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rel.Columns, []string{"kind", "account", "score"}) {
		t.Errorf("Columns = %v; want the contract's columns", rel.Columns)
	}
	for _, r := range rel.Rows {
		if len(r) != 3 {
			t.Errorf("row %v has %d fields; want 3", r, len(r))
		}
		if r[1] == "BANKA-1" && (r[0] != "mule" || r[2] != "7") {
			t.Errorf("row = %v; want [mule BANKA-1 7]", r)
		}
	}
	if len(rel.Aggregates) != 2 {
		t.Errorf("bank-a got %d aggregates; want 2", len(rel.Aggregates))
	}
	relB, err := Apply(result(), c, "bank-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(relB.Aggregates) != 0 {
		t.Errorf("bank-b got aggregates; the contract gives it findings only")
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name  string
		party string
		edit  func(c *contract.Contract, r *fraud.Result)
	}{
		{"small group", "bank-a", func(c *contract.Contract, r *fraud.Result) { c.Output.MinGroupSize = 4 }},
		{"other bank's raw row", "bank-a", func(c *contract.Contract, r *fraud.Result) {
			r.Rows = []ledger.Transaction{{ID: "t9", From: "BANKB-1", To: "EXT-1", Amount: 5}}
		}},
		{"not a recipient", "bank-c", func(*contract.Contract, *fraud.Result) {}},
		{"not a party", "bank-z", func(*contract.Contract, *fraud.Result) {}},
		{"unknown column", "bank-a", func(c *contract.Contract, r *fraud.Result) { c.Output.Columns = append(c.Output.Columns, "memo") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r := testContract(t), result()
			tt.edit(c, r)
			rel, err := Apply(r, c, tt.party)
			var pe *Error
			if !errors.Is(err, ErrOutputPolicy) || !errors.As(err, &pe) || rel != nil {
				t.Errorf("Apply(%s) = %v, %v; want nil, ErrOutputPolicy", tt.name, rel, err)
			}
		})
	}
	t.Run("small group not sent to findings-only party", func(t *testing.T) {
		c := testContract(t)
		c.Output.MinGroupSize = 4
		if _, err := Apply(result(), c, "bank-b"); err != nil {
			t.Errorf("Apply(bank-b, findings only) = %v; want nil (it receives no aggregates)", err)
		}
	})
	t.Run("own raw row allowed", func(t *testing.T) {
		c, r := testContract(t), result()
		r.Rows = []ledger.Transaction{{ID: "t1", From: "BANKB-1", To: "BANKA-2", Amount: 5}}
		if _, err := Apply(r, c, "bank-a"); err != nil {
			t.Errorf("Apply(row involving bank-a) = %v; want nil", err)
		}
	})
}
