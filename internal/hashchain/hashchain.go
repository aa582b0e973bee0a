// Package hashchain links records into an append-only, hash-chained log and
// verifies such a log, reporting the first break.
//
// Each record's hash is SHA-256 over a domain label, the record's sequence
// number, the previous record's hash and the record's payload:
//
//	hash = SHA-256("confide-hashchain-v1" || u64be(seq) || prev || u32be(len(payload)) || payload)
//
// The first record has sequence number 1 and a previous hash of 32 zero
// bytes. The payload is whatever canonical bytes the caller logs (the audit
// log and the clean-room governance log use canonical JSON).
package hashchain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Size is the size of a record hash.
const Size = sha256.Size

const domain = "confide-hashchain-v1"

// Hash is a record hash.
type Hash [Size]byte

// Record is one entry of a hash-chained log.
type Record struct {
	Seq     uint64
	Prev    Hash
	Payload []byte
	Hash    Hash
}

// Link computes the hash of the record with sequence number seq that
// follows prev and carries payload.
func Link(prev Hash, seq uint64, payload []byte) Hash {
	h := sha256.New()
	h.Write([]byte(domain))
	var n [12]byte
	binary.BigEndian.PutUint64(n[:8], seq)
	h.Write(n[:8])
	h.Write(prev[:])
	binary.BigEndian.PutUint32(n[8:], uint32(len(payload)))
	h.Write(n[8:])
	h.Write(payload)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Next returns the record that follows last (nil for an empty log).
func Next(last *Record, payload []byte) Record {
	var prev Hash
	seq := uint64(1)
	if last != nil {
		prev, seq = last.Hash, last.Seq+1
	}
	return Record{Seq: seq, Prev: prev, Payload: payload, Hash: Link(prev, seq, payload)}
}

// ErrBroken is matched (errors.Is) by every *BreakError.
var ErrBroken = errors.New("hashchain: chain is broken")

// BreakError reports the first record at which a log stops verifying.
type BreakError struct {
	// Seq is the sequence number expected at the break.
	Seq uint64
	// Index is the position of the offending record in the slice.
	Index int
	// Reason says what did not match.
	Reason string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("hashchain: chain breaks at record %d (index %d): %s", e.Seq, e.Index, e.Reason)
}

// Unwrap returns ErrBroken.
func (e *BreakError) Unwrap() error { return ErrBroken }

// Verify checks that records form an unbroken chain starting at sequence
// number 1, and returns a *BreakError for the first record that does not.
func Verify(records []Record) error {
	var prev Hash
	for i := range records {
		r := &records[i]
		seq := uint64(i) + 1
		switch {
		case r.Seq != seq:
			return &BreakError{Seq: seq, Index: i, Reason: fmt.Sprintf("sequence number %d, want %d", r.Seq, seq)}
		case subtle.ConstantTimeCompare(r.Prev[:], prev[:]) != 1:
			return &BreakError{Seq: seq, Index: i, Reason: "previous hash does not match"}
		}
		want := Link(prev, seq, r.Payload)
		if subtle.ConstantTimeCompare(want[:], r.Hash[:]) != 1 {
			return &BreakError{Seq: seq, Index: i, Reason: "record hash does not match its contents"}
		}
		prev = r.Hash
	}
	return nil
}
