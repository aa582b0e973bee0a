package governance

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/internal/hashchain"
)

// Entry types.
const (
	// Propose records a contract revision (its canonical, unsigned form).
	Propose = "propose"
	// Sign records one party's signature over a proposed contract hash.
	Sign = "sign"
)

// MaxLine bounds one line of the log file.
const MaxLine = 2 << 20

// Errors callers branch on.
var (
	// ErrFormat reports a log file line that cannot be parsed.
	ErrFormat = errors.New("governance: malformed log")
	// ErrEntry reports an entry that is not acceptable at this point of the
	// log: a signature for an unknown proposal or one that does not verify,
	// or a proposal that is not a valid contract.
	ErrEntry = errors.New("governance: entry rejected")
	// ErrNotActive reports a contract that not every party has signed.
	ErrNotActive = errors.New("governance: no fully signed revision")
)

// Entry is a governance record's payload.
type Entry struct {
	// Type is Propose or Sign.
	Type string `json:"type"`
	// Time is when the entry was appended (UTC, from Options.Now).
	Time time.Time `json:"time"`
	// ContractID is the contract's ID.
	ContractID string `json:"contract_id"`
	// ContractHash is the lowercase hex contract hash.
	ContractHash string `json:"contract_hash"`
	// Contract is the canonical contract (Propose only).
	Contract json.RawMessage `json:"contract,omitempty"`
	// Signature is the party's signature (Sign only).
	Signature *contract.Signature `json:"signature,omitempty"`
}

// EntryError says which record is wrong and why.
type EntryError struct {
	// Seq is the record's sequence number.
	Seq uint64
	// Reason says what is wrong.
	Reason string
	// Err is ErrFormat or ErrEntry, or the underlying contract error.
	Err error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("governance: record %d: %s: %v", e.Seq, e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *EntryError) Unwrap() []error {
	if errors.Is(e.Err, ErrFormat) {
		return []error{e.Err}
	}
	return []error{ErrEntry, e.Err}
}

// Options configures a Log.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Log is an open governance log. It is safe for concurrent use within one
// process; it does not lock the file against other processes.
type Log struct {
	mu        sync.Mutex
	path      string
	f         *os.File
	now       func() time.Time
	records   []hashchain.Record
	failed    error                         // set when a write failed after the entry was applied in memory
	proposals map[string]*contract.Contract // by hex hash, with logged signatures
}

type line struct {
	Seq     uint64          `json:"seq"`
	Prev    string          `json:"prev"`
	Hash    string          `json:"hash"`
	Payload json.RawMessage `json:"payload"`
}

// Open opens the log at path, creating it if absent, and verifies it: the
// chain (a *hashchain.BreakError for the first break) and every entry (an
// *EntryError).
func Open(path string, opts Options) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("governance: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l := &Log{path: path, f: f, now: now}
	recs, err := readRecords(f)
	if err == nil {
		l.proposals, err = replay(recs)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	l.records = recs
	return l, nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// ReadRecords parses a log file's records without verifying them.
func ReadRecords(r io.Reader) ([]hashchain.Record, error) { return readRecords(r) }

func readRecords(r io.Reader) ([]hashchain.Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	var out []hashchain.Record
	for n := uint64(1); sc.Scan(); n++ {
		bad := func(reason string) error {
			return &EntryError{Seq: n, Reason: reason, Err: ErrFormat}
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var ln line
		if err := dec.Decode(&ln); err != nil {
			return nil, bad(err.Error())
		}
		if dec.More() || dec.InputOffset() != int64(len(sc.Bytes())) {
			return nil, bad("trailing data on line")
		}
		rec := hashchain.Record{Seq: ln.Seq, Payload: bytes.Clone(ln.Payload)}
		if err := unhex(rec.Prev[:], ln.Prev); err != nil {
			return nil, bad("prev: " + err.Error())
		}
		if err := unhex(rec.Hash[:], ln.Hash); err != nil {
			return nil, bad("hash: " + err.Error())
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, &EntryError{Seq: uint64(len(out)) + 1, Reason: err.Error(), Err: ErrFormat}
	}
	return out, nil
}

func unhex(dst []byte, s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return errors.New("not 64 hex digits")
	}
	copy(dst, b)
	return nil
}

// replay checks the chain and the entries and rebuilds the proposals.
func replay(recs []hashchain.Record) (map[string]*contract.Contract, error) {
	if err := hashchain.Verify(recs); err != nil {
		return nil, err
	}
	props := map[string]*contract.Contract{}
	for _, r := range recs {
		if err := apply(props, r.Seq, r.Payload); err != nil {
			return nil, err
		}
	}
	return props, nil
}

func apply(props map[string]*contract.Contract, seq uint64, payload []byte) error {
	bad := func(reason string, err error) error { return &EntryError{Seq: seq, Reason: reason, Err: err} }
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return bad("payload", fmt.Errorf("%w: %v", ErrFormat, err))
	}
	switch e.Type {
	case Propose:
		c, err := contract.Parse(e.Contract)
		if err != nil {
			return bad("proposed contract", err)
		}
		if len(c.Signatures) != 0 {
			return bad("proposed contract", errors.New("carries signatures; log them as sign entries"))
		}
		h, _ := c.Hash()
		if hex.EncodeToString(h[:]) != e.ContractHash || c.ID != e.ContractID {
			return bad("proposed contract", errors.New("hash or id does not match the contract"))
		}
		if _, dup := props[e.ContractHash]; dup {
			return bad("proposed contract", errors.New("already proposed"))
		}
		props[e.ContractHash] = c
	case Sign:
		c, ok := props[e.ContractHash]
		if !ok || c.ID != e.ContractID {
			return bad("signature", errors.New("no such proposal"))
		}
		if e.Signature == nil || len(e.Contract) != 0 {
			return bad("signature", errors.New("sign entry must carry a signature and no contract"))
		}
		if err := c.AddSignature(*e.Signature); err != nil {
			return bad("signature", err)
		}
	default:
		return bad("type", fmt.Errorf("unknown entry type %q", e.Type))
	}
	return nil
}

func (l *Log) append(e Entry) (hashchain.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return hashchain.Record{}, fmt.Errorf("governance: log unusable after failed write: %w", l.failed)
	}
	e.Time = l.now().UTC()
	payload, err := json.Marshal(e)
	if err != nil {
		return hashchain.Record{}, fmt.Errorf("governance: %w", err)
	}
	var last *hashchain.Record
	if n := len(l.records); n > 0 {
		last = &l.records[n-1]
	}
	rec := hashchain.Next(last, payload)
	// Check and apply the entry in memory before anything is written; a
	// rejected entry changes nothing.
	if err := apply(l.proposals, rec.Seq, payload); err != nil {
		return hashchain.Record{}, err
	}
	b, err := json.Marshal(line{Seq: rec.Seq, Prev: hex.EncodeToString(rec.Prev[:]), Hash: hex.EncodeToString(rec.Hash[:]), Payload: payload})
	if err != nil {
		return hashchain.Record{}, fmt.Errorf("governance: %w", err)
	}
	if _, err = l.f.Write(append(b, '\n')); err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.failed = err
		return hashchain.Record{}, fmt.Errorf("governance: append: %w", err)
	}
	l.records = append(l.records, rec)
	return rec, nil
}

// Propose appends a contract revision. It must be valid and unsigned
// (signatures are logged separately with AppendSignature).
func (l *Log) Propose(c *contract.Contract) (hashchain.Record, error) {
	canon, err := c.Canonical()
	if err != nil {
		return hashchain.Record{}, err
	}
	h, err := c.Hash()
	if err != nil {
		return hashchain.Record{}, err
	}
	return l.append(Entry{Type: Propose, ContractID: c.ID, ContractHash: hex.EncodeToString(h[:]), Contract: canon})
}

// AppendSignature appends one party's signature over a proposed contract.
// The signature must verify against the proposal logged under hash.
func (l *Log) AppendSignature(contractID string, hash [32]byte, s contract.Signature) (hashchain.Record, error) {
	return l.append(Entry{Type: Sign, ContractID: contractID, ContractHash: hex.EncodeToString(hash[:]), Signature: &s})
}

// Records returns a copy of the log's records.
func (l *Log) Records() []hashchain.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]hashchain.Record, len(l.records))
	for i, r := range l.records {
		out[i] = r
		out[i].Payload = bytes.Clone(r.Payload)
	}
	return out
}

// Verify re-reads the file from disk and checks it, returning a
// *hashchain.BreakError for the first broken link, an *EntryError for the
// first unacceptable entry, or nil. It also reports records in memory that
// are missing from the file (truncation).
func (l *Log) Verify() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("governance: %w", err)
	}
	defer f.Close()
	recs, err := readRecords(f)
	if err != nil {
		return err
	}
	if _, err := replay(recs); err != nil {
		return err
	}
	if len(recs) < len(l.records) {
		return &hashchain.BreakError{Seq: uint64(len(recs)) + 1, Index: len(recs), Reason: "record missing from the file (truncated)"}
	}
	return nil
}

// Active returns the latest revision of contract id that every party has
// signed, with its signatures, or ErrNotActive.
func (l *Log) Active(id string) (*contract.Contract, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best *contract.Contract
	for _, c := range l.proposals {
		if c.ID != id || c.Verify() != nil {
			continue
		}
		if best == nil || c.Revision > best.Revision {
			best = c
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotActive, id)
	}
	b, err := best.Marshal()
	if err != nil {
		return nil, err
	}
	return contract.Parse(b)
}
