package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/ledger"
)

// ErrOutputPolicy is matched by every refusal.
var ErrOutputPolicy = errors.New("policy: output refused by the contract's output policy")

// Error says why a release was refused.
type Error struct {
	// Party is the would-be recipient.
	Party string
	// Reason says which rule the result breaks.
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("policy: output for %q refused: %s", e.Party, e.Reason)
}

// Unwrap returns ErrOutputPolicy.
func (e *Error) Unwrap() error { return ErrOutputPolicy }

// FindingColumns returns the names of the columns a finding can be
// released with, in order.
func FindingColumns() []string {
	return []string{"kind", "account", "bank", "score", "count", "amount", "first_seen", "last_seen"}
}

// Release is what one party may receive.
type Release struct {
	// Party is the recipient.
	Party string
	// Columns name the columns of Rows, in contract order.
	Columns []string
	// Rows are the visible findings projected onto Columns.
	Rows [][]string
	// Aggregates are the aggregates, all with allowed group sizes.
	Aggregates []fraud.Aggregate
	// Withheld is the number of findings not visible to this party.
	Withheld int
}

// Apply returns party's release of r under c's output policy, or a
// refusal (*Error, ErrOutputPolicy). c must be a valid contract.
func Apply(r *fraud.Result, c *contract.Contract, party string) (*Release, error) {
	refuse := func(format string, a ...any) error { return &Error{Party: party, Reason: fmt.Sprintf(format, a...)} }
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := c.Party(party)
	if err != nil {
		return nil, refuse("not a party to the contract")
	}
	op := &c.Output
	wantFindings, wantAggs := op.Receives(party, "findings"), op.Receives(party, "aggregates")
	if !wantFindings && !wantAggs {
		return nil, refuse("the contract gives it neither findings nor aggregates")
	}
	for _, row := range r.Rows {
		if ledger.Bank(row.From) != p.AccountPrefix && ledger.Bank(row.To) != p.AccountPrefix {
			return nil, refuse("result holds raw transaction %s of other parties", row.ID)
		}
	}
	for _, col := range op.Columns {
		if !slices.Contains(FindingColumns(), col) {
			return nil, refuse("contract allows unknown column %q", col)
		}
	}
	rel := &Release{Party: party}
	if wantAggs {
		for _, a := range r.Aggregates {
			if a.GroupSize < op.MinGroupSize {
				return nil, refuse("aggregate %s over a group of %d, minimum %d", a.Name, a.GroupSize, op.MinGroupSize)
			}
			rel.Aggregates = append(rel.Aggregates, a)
		}
	}
	if !wantFindings {
		return rel, nil
	}
	rel.Columns = slices.Clone(op.Columns)
	for _, f := range r.Findings {
		if !visible(c, p, ledger.Bank(f.Account)) {
			rel.Withheld++
			continue
		}
		row := make([]string, 0, len(rel.Columns))
		for _, col := range rel.Columns {
			row = append(row, column(&f, col))
		}
		rel.Rows = append(rel.Rows, row)
	}
	return rel, nil
}

func visible(c *contract.Contract, p *contract.Party, bank string) bool {
	switch owner := c.PartyByPrefix(bank); {
	case owner == p:
		return true
	case owner != nil:
		return c.Output.ShareCounterparty
	default:
		return c.Output.ShareExternal
	}
}

func column(f *fraud.Finding, col string) string {
	switch col {
	case "kind":
		return f.Kind
	case "account":
		return f.Account
	case "bank":
		return f.Bank
	case "score":
		return strconv.FormatFloat(f.Score, 'g', -1, 64)
	case "count":
		return strconv.Itoa(f.Count)
	case "amount":
		return strconv.FormatInt(f.Amount, 10)
	case "first_seen":
		return strconv.FormatInt(f.First, 10)
	case "last_seen":
		return strconv.FormatInt(f.Last, 10)
	}
	panic("policy: unknown column " + col) // unreachable: columns checked above
}
