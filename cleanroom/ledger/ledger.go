package ledger

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/confide-dev/confide/cleanroom/dataset"
)

// columns returns the header line of a ledger table, in order (a fresh
// array each time: there is no mutable package state).
func columns() [9]string {
	return [...]string{"id", "time", "from", "to", "amount", "currency", "channel", "memo", "fraud"}
}

// Columns returns the column names of a ledger table, in order.
func Columns() []string {
	c := columns()
	return c[:]
}

// Schema returns the schema of a ledger table as datasets declare it:
// time is a time, amount an int, fraud a bool, the rest strings.
func Schema() []dataset.Column {
	types := map[string]string{"time": "time", "amount": "int", "fraud": "bool"}
	var cols []dataset.Column
	for _, n := range Columns() {
		t := types[n]
		if t == "" {
			t = "string"
		}
		cols = append(cols, dataset.Column{Name: n, Type: t})
	}
	return cols
}

// MaxField bounds the length of any field.
const MaxField = 256

// Transaction is one row of a ledger table.
type Transaction struct {
	// ID identifies the transaction; a transfer between two banks appears in
	// both banks' tables under the same ID.
	ID string
	// Time is the Unix time in seconds.
	Time int64
	// From is the debited account.
	From string
	// To is the credited account.
	To string
	// Amount is in minor units and positive.
	Amount int64
	// Currency is an ISO 4217 code.
	Currency string
	// Channel is how the payment was made ("transfer", "instant", "card", "atm").
	Channel string
	// Memo is free text.
	Memo string
	// Fraud is the owner's fraud label.
	Fraud bool
}

// ErrFormat reports a malformed table.
var ErrFormat = errors.New("ledger: malformed table")

// LineError locates an ErrFormat.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Reason says what is wrong.
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("ledger: line %d: %s", e.Line, e.Reason) }

// Unwrap returns ErrFormat.
func (e *LineError) Unwrap() error { return ErrFormat }

// Reader reads transactions from a CSV table.
type Reader struct {
	r      *csv.Reader
	header bool
	line   int
}

// NewReader returns a Reader for the table in r.
func NewReader(r io.Reader) *Reader {
	c := csv.NewReader(r)
	c.FieldsPerRecord = len(columns())
	c.ReuseRecord = true
	return &Reader{r: c}
}

// Read returns the next transaction, or io.EOF after the last one.
func (r *Reader) Read() (Transaction, error) {
	if !r.header {
		rec, err := r.r.Read()
		r.line++
		if err == io.EOF {
			return Transaction{}, &LineError{Line: 1, Reason: "missing header"}
		}
		if err != nil {
			return Transaction{}, &LineError{Line: r.line, Reason: err.Error()}
		}
		for i, c := range columns() {
			if rec[i] != c {
				return Transaction{}, &LineError{Line: 1, Reason: fmt.Sprintf("column %d is %q, want %q", i+1, rec[i], c)}
			}
		}
		r.header = true
	}
	rec, err := r.r.Read()
	if err == io.EOF {
		return Transaction{}, io.EOF
	}
	r.line++
	if err != nil {
		return Transaction{}, &LineError{Line: r.line, Reason: err.Error()}
	}
	bad := func(s string) (Transaction, error) { return Transaction{}, &LineError{Line: r.line, Reason: s} }
	for i, f := range rec {
		if reason := checkField(f); reason != "" {
			return bad(fmt.Sprintf("field %s: %s", columns()[i], reason))
		}
	}
	t := Transaction{ID: rec[0], From: rec[2], To: rec[3], Currency: rec[5], Channel: rec[6], Memo: rec[7]}
	if t.ID == "" || t.From == "" || t.To == "" {
		return bad("empty id or account")
	}
	if t.Time, err = strconv.ParseInt(rec[1], 10, 64); err != nil || t.Time < 0 {
		return bad("bad time")
	}
	if t.Amount, err = strconv.ParseInt(rec[4], 10, 64); err != nil || t.Amount <= 0 {
		return bad("bad amount")
	}
	switch rec[8] {
	case "0":
	case "1":
		t.Fraud = true
	default:
		return bad("fraud must be 0 or 1")
	}
	return t, nil
}

// ReadAll reads every remaining transaction.
func (r *Reader) ReadAll() ([]Transaction, error) {
	var out []Transaction
	for {
		t, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
}

// Writer writes transactions as a CSV table.
type Writer struct {
	w      *csv.Writer
	header bool
	rec    []string
}

// NewWriter returns a Writer to w. Call Flush when done.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: csv.NewWriter(w), rec: make([]string, len(columns()))}
}

// Write writes one transaction (and the header line before the first).
func (w *Writer) Write(t *Transaction) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	fraud := "0"
	if t.Fraud {
		fraud = "1"
	}
	w.rec[0], w.rec[1], w.rec[2], w.rec[3] = t.ID, strconv.FormatInt(t.Time, 10), t.From, t.To
	w.rec[4], w.rec[5], w.rec[6], w.rec[7], w.rec[8] = strconv.FormatInt(t.Amount, 10), t.Currency, t.Channel, t.Memo, fraud
	for i, f := range w.rec {
		if reason := checkField(f); reason != "" {
			return fmt.Errorf("%w: transaction %q: field %s: %s", ErrFormat, t.ID, columns()[i], reason)
		}
	}
	return w.w.Write(w.rec)
}

// WriteHeader writes the header line if it has not been written yet.
func (w *Writer) WriteHeader() error {
	if w.header {
		return nil
	}
	w.header = true
	cols := columns()
	return w.w.Write(cols[:])
}

// Flush writes buffered data and reports any write error.
func (w *Writer) Flush() error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	w.w.Flush()
	return w.w.Error()
}

// checkField returns why a field is not allowed, or "". Line breaks are
// refused because CSV readers normalise them inside quoted fields, so such a
// field would not read back as written.
func checkField(f string) string {
	if len(f) > MaxField {
		return fmt.Sprintf("longer than %d bytes", MaxField)
	}
	if strings.ContainsAny(f, "\r\n") {
		return "contains a line break"
	}
	return ""
}

// Bank returns the bank prefix of an account ID: the text before the first
// '-', or "" when there is none.
func Bank(account string) string {
	if i := strings.IndexByte(account, '-'); i > 0 {
		return account[:i]
	}
	return ""
}
