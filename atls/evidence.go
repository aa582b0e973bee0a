package atls

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"

	"github.com/confide-dev/confide/atls/internal/cbor"
	"github.com/confide-dev/confide/attest"
)

// TagIntelQuote is the CBOR tag (IANA-registered, 60000) of tagged
// evidence whose quote is an Intel SGX or TDX quote.
const TagIntelQuote = 60000

// MaxEvidenceSize bounds the evidence a peer may send, in a certificate
// extension or on the connection.
const MaxEvidenceSize = 1 << 20

// Hash algorithm identifiers of the IANA "Named Information Hash Algorithm"
// registry, as used by CoSWID hash-entry.
const (
	HashSHA256 = 1
	HashSHA384 = 7
	HashSHA512 = 8
)

// Claim names in the claims buffer.
const (
	claimPubKeyHash = "pubkey-hash"
	claimNonce      = "nonce"
)

// Evidence is parsed tagged evidence: the value of the TCG DICE
// certificate extension, or of the evidence frame on a connection (see
// spec/atls.md).
type Evidence struct {
	// Tag is the CBOR tag naming the evidence format (TagIntelQuote).
	Tag uint64
	// Quote is the TEE quote, as the verifier takes it.
	Quote []byte
	// Claims is the claims buffer exactly as hashed into the quote's
	// report data.
	Claims []byte
	// PubKeyHashAlg is the hash algorithm of PubKeyHash (HashSHA256, …).
	PubKeyHashAlg uint64
	// PubKeyHash is the hash of the DER SubjectPublicKeyInfo of the key
	// the evidence is for.
	PubKeyHash []byte
	// Nonce is the "nonce" claim, nil when absent. On a connection it is
	// the TLS exporter value.
	Nonce []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("atls: %w: "+format, append([]any{attest.ErrMalformed}, args...)...)
}

// ParseEvidence parses tagged evidence: a CBOR tag TagIntelQuote over the
// array [quote: bstr, claims: bstr], where claims is a CBOR map with a
// "pubkey-hash" claim (a bstr holding the CBOR array [alg: uint, hash:
// bstr]) and an optional "nonce" claim (bstr). Other claims are ignored.
// ParseEvidence does no cryptography.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > MaxEvidenceSize {
		return nil, malformed("evidence of %d bytes (at most %d)", len(b), MaxEvidenceSize)
	}
	top, err := cbor.Decode(b)
	if err != nil {
		return nil, malformed("evidence: %v", err)
	}
	if top.Major != cbor.Tag {
		return nil, malformed("evidence is CBOR major type %d; want a tag", top.Major)
	}
	if top.Arg != TagIntelQuote {
		return nil, malformed("evidence tag %d; want %d (Intel TEE quote)", top.Arg, TagIntelQuote)
	}
	arr := &top.Items[0]
	if arr.Major != cbor.Array || len(arr.Items) != 2 {
		return nil, malformed("tagged evidence is not a two-element array")
	}
	q, c := &arr.Items[0], &arr.Items[1]
	if q.Major != cbor.Bytes || len(q.Bytes) == 0 {
		return nil, malformed("quote is not a non-empty byte string")
	}
	if c.Major != cbor.Bytes {
		return nil, malformed("claims buffer is not a byte string")
	}
	e := &Evidence{Tag: top.Arg, Quote: q.Bytes, Claims: c.Bytes}
	if err := e.parseClaims(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Evidence) parseClaims() error {
	m, err := cbor.Decode(e.Claims)
	if err != nil {
		return malformed("claims buffer: %v", err)
	}
	if m.Major != cbor.Map {
		return malformed("claims buffer is CBOR major type %d; want a map", m.Major)
	}
	ph := m.Lookup(claimPubKeyHash)
	if ph == nil {
		return malformed("no %q claim", claimPubKeyHash)
	}
	if ph.Major != cbor.Bytes {
		return malformed("%q claim is not a byte string", claimPubKeyHash)
	}
	he, err := cbor.Decode(ph.Bytes)
	if err != nil {
		return malformed("%q hash-entry: %v", claimPubKeyHash, err)
	}
	if he.Major != cbor.Array || len(he.Items) != 2 || he.Items[0].Major != cbor.Uint || he.Items[1].Major != cbor.Bytes {
		return malformed("%q is not a hash-entry [alg, hash]", claimPubKeyHash)
	}
	alg, sum := he.Items[0].Arg, he.Items[1].Bytes
	h := newHash(alg)
	if h == nil {
		return malformed("hash algorithm %d (want 1 SHA-256, 7 SHA-384 or 8 SHA-512)", alg)
	}
	if len(sum) != h.Size() {
		return malformed("public key hash of %d bytes for algorithm %d; want %d", len(sum), alg, h.Size())
	}
	e.PubKeyHashAlg, e.PubKeyHash = alg, sum
	if n := m.Lookup(claimNonce); n != nil {
		if n.Major != cbor.Bytes {
			return malformed("%q claim is not a byte string", claimNonce)
		}
		e.Nonce = n.Bytes
	}
	return nil
}

func newHash(alg uint64) hash.Hash {
	switch alg {
	case HashSHA256:
		return sha256.New()
	case HashSHA384:
		return sha512.New384()
	case HashSHA512:
		return sha512.New()
	}
	return nil
}

// checkKey checks that the evidence's pubkey-hash is the hash of spki.
func (e *Evidence) checkKey(spki []byte) error {
	h := newHash(e.PubKeyHashAlg)
	if h == nil {
		return malformed("hash algorithm %d", e.PubKeyHashAlg)
	}
	h.Write(spki)
	if subtle.ConstantTimeCompare(h.Sum(nil), e.PubKeyHash) != 1 {
		return fmt.Errorf("%w: pubkey-hash %x is not the hash of the certificate's public key", ErrKeyBinding, e.PubKeyHash)
	}
	return nil
}

// reportData returns the report data that binds the runtime data rd:
// SHA-256(rd) followed by 32 zero bytes, as spec/evidence.md and the
// attestation service bind runtime data.
func reportData(rd []byte) [64]byte {
	var out [64]byte
	h := sha256.Sum256(rd)
	copy(out[:], h[:])
	return out
}

// checkReportData checks that the verified report data binds rd.
func checkReportData(c *attest.Claims, rd []byte) error {
	want := reportData(rd)
	if subtle.ConstantTimeCompare(c.ReportData, want[:]) != 1 {
		return fmt.Errorf("%w: report data %x is not SHA-256 of the claims followed by zeros", ErrKeyBinding, []byte(c.ReportData))
	}
	return nil
}

// marshalClaims encodes the claims buffer for the key with SubjectPublicKeyInfo
// spki and an optional nonce. Keys are in deterministic (bytewise) order.
func marshalClaims(spki, nonce []byte) []byte {
	sum := sha256.Sum256(spki)
	he := cbor.AppendHead(nil, cbor.Array, 2)
	he = cbor.AppendUint(he, HashSHA256)
	he = cbor.AppendBytes(he, sum[:])
	n := uint64(1)
	if nonce != nil {
		n = 2
	}
	b := cbor.AppendHead(nil, cbor.Map, n)
	if nonce != nil {
		b = cbor.AppendText(b, claimNonce)
		b = cbor.AppendBytes(b, nonce)
	}
	b = cbor.AppendText(b, claimPubKeyHash)
	return cbor.AppendBytes(b, he)
}

// marshalEvidence encodes tagged evidence over quote and claims.
func marshalEvidence(quote, claims []byte) []byte {
	b := cbor.AppendHead(nil, cbor.Tag, TagIntelQuote)
	b = cbor.AppendHead(b, cbor.Array, 2)
	b = cbor.AppendBytes(b, quote)
	return cbor.AppendBytes(b, claims)
}

// makeEvidence quotes the claims for spki and nonce and returns the
// tagged evidence.
func makeEvidence(a Attester, spki, nonce []byte) ([]byte, error) {
	claims := marshalClaims(spki, nonce)
	q, err := a.Quote(reportData(claims))
	if err != nil {
		return nil, fmt.Errorf("atls: quote: %w", err)
	}
	return marshalEvidence(q, claims), nil
}
