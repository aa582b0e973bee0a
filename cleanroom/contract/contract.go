package contract

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/image"
)

// Version is the contract format version.
const Version = 1

// SignatureContext prefixes the contract hash in the signed message.
const SignatureContext = "confide-cleanroom-contract-v1\x00"

// MaxSize bounds an encoded contract.
const MaxSize = 1 << 20

// Errors callers branch on.
var (
	// ErrInvalid reports a malformed contract (see *InvalidError).
	ErrInvalid = errors.New("contract: invalid contract")
	// ErrNotCanonical reports input that is not the canonical encoding.
	ErrNotCanonical = errors.New("contract: not in canonical form")
	// ErrUnsigned reports parties that have not signed the current hash (see *UnsignedError).
	ErrUnsigned = errors.New("contract: not signed by every party")
	// ErrBadSignature reports a signature that does not verify, or one from no party.
	ErrBadSignature = errors.New("contract: bad signature")
	// ErrWrongKey reports a signing key that is not the party's.
	ErrWrongKey = errors.New("contract: key does not belong to the party")
	// ErrUnknownParty reports a party name the contract does not list.
	ErrUnknownParty = errors.New("contract: unknown party")
	// ErrDebug reports a contract that would allow a debug enclave.
	ErrDebug = errors.New("contract: debug enclaves are never allowed")
	// ErrEnclave reports an enclave identity the contract does not allow.
	ErrEnclave = errors.New("contract: enclave not allowed by the contract")
)

// InvalidError says which field of a contract is wrong.
type InvalidError struct {
	// Field is a JSON path such as "parties[1].signing_key".
	Field string
	// Reason says what is wrong.
	Reason string
	// Err is ErrInvalid, or ErrDebug for an enclave policy allowing debug.
	Err error
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("contract: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalid or ErrDebug.
func (e *InvalidError) Unwrap() error { return e.Err }

func invalid(field, format string, a ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, a...), Err: ErrInvalid}
}

// UnsignedError lists the parties whose signatures are missing.
type UnsignedError struct {
	// Parties are the names of the parties that have not signed.
	Parties []string
}

func (e *UnsignedError) Error() string {
	return "contract: not signed by " + strings.Join(e.Parties, ", ")
}

// Unwrap returns ErrUnsigned.
func (e *UnsignedError) Unwrap() error { return ErrUnsigned }

// SignatureError says whose signature failed.
type SignatureError struct {
	// Party is the party named in the signature.
	Party string
	// Reason says what is wrong.
	Reason string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("contract: signature of %q: %s", e.Party, e.Reason)
}

// Unwrap returns ErrBadSignature.
func (e *SignatureError) Unwrap() error { return ErrBadSignature }

// Contract is a clean-room contract. Field order is the canonical JSON order.
type Contract struct {
	// Version is the format version; it must be Version.
	Version int `json:"version"`
	// ID names the contract; a new revision gets a new Revision, not a new ID.
	ID string `json:"id"`
	// Revision numbers successive revisions of the contract from 1.
	Revision int `json:"revision"`
	// Parties are the signatories.
	Parties []Party `json:"parties"`
	// Datasets are the parties' inputs.
	Datasets []Dataset `json:"datasets"`
	// Job is what the enclave runs.
	Job Job `json:"job"`
	// Output is the output policy.
	Output OutputPolicy `json:"output"`
	// Enclave is the enclave allowed to run the job.
	Enclave EnclavePolicy `json:"enclave"`
	// Signatures are the parties' signatures over Hash. They are not part
	// of the hashed canonical form.
	Signatures []Signature `json:"signatures"`
}

// Party is one signatory.
type Party struct {
	// Name identifies the party within the contract.
	Name string `json:"name"`
	// SigningKey is the party's Ed25519 or ECDSA P-256 public key, as
	// standard base64 of its PKIX (SubjectPublicKeyInfo) DER encoding.
	SigningKey string `json:"signing_key"`
	// ResultKey is the key results for this party are encrypted to (HPKE).
	ResultKey ResultKey `json:"result_key"`
	// AccountPrefix is the prefix of the party's own account IDs (its bank
	// code), e.g. "BANKA"; the output policy uses it to decide ownership.
	AccountPrefix string `json:"account_prefix"`
}

// ResultKey is an HPKE recipient public key.
type ResultKey struct {
	// KEM is "X25519" or "P256".
	KEM string `json:"kem"`
	// Key is standard base64 of the raw public key (32 bytes for X25519,
	// 65-byte uncompressed point for P256).
	Key string `json:"key"`
}

// Dataset is one party's input table.
type Dataset struct {
	// ID names the dataset; it is the dataset stream's Meta.ID.
	ID string `json:"id"`
	// Owner is the name of the party that provides it.
	Owner string `json:"owner"`
	// Schema lists its columns.
	Schema []dataset.Column `json:"schema"`
	// Digest is the lowercase hex SHA-256 of the published ciphertext, or
	// empty before publication.
	Digest string `json:"digest"`
}

// Job is the computation the enclave runs.
type Job struct {
	// Kind is "fraud" (fraud detection) or "train" (model training).
	Kind string `json:"kind"`
	// Params are numeric parameters, such as "window_seconds"; their
	// meaning depends on Kind (spec/cleanroom.md, "Jobs").
	Params map[string]float64 `json:"params"`
}

// OutputPolicy says what may leave the enclave and to whom.
type OutputPolicy struct {
	// Recipients list what each party receives.
	Recipients []Recipient `json:"recipients"`
	// MinGroupSize is the smallest group an aggregate may describe (≥ 1).
	MinGroupSize int `json:"min_group_size"`
	// Columns are the finding columns that may leave; others are dropped.
	Columns []string `json:"columns"`
	// ShareCounterparty allows a party to see findings about the other
	// parties' accounts (by account ID), not only about its own.
	ShareCounterparty bool `json:"share_counterparty"`
	// ShareExternal allows findings about accounts at none of the parties.
	ShareExternal bool `json:"share_external"`
}

// Recipient is what one party receives.
type Recipient struct {
	// Party is the receiving party's name.
	Party string `json:"party"`
	// Receives lists outputs: "findings", "aggregates", "model", "metrics".
	Receives []string `json:"receives"`
}

// Receives reports whether the policy gives output to party.
func (p *OutputPolicy) Receives(party, output string) bool {
	for _, r := range p.Recipients {
		if r.Party == party && slices.Contains(r.Receives, output) {
			return true
		}
	}
	return false
}

// EnclavePolicy names the enclave allowed to run the job.
type EnclavePolicy struct {
	// SignerID is the lowercase hex SignerID (MRSIGNER) of the enclave.
	SignerID string `json:"signer_id"`
	// ProductID is the required ISV product ID.
	ProductID uint16 `json:"product_id"`
	// MinSecurityVersion is the lowest ISV SVN accepted.
	MinSecurityVersion uint16 `json:"min_security_version"`
	// Debug must be false; a contract allowing debug enclaves is invalid.
	Debug bool `json:"debug"`
}

// Signature is one party's signature over the contract hash.
type Signature struct {
	// Party is the signer's name.
	Party string `json:"party"`
	// Sig is standard base64 of an Ed25519 signature, or of an ASN.1 ECDSA
	// signature over SHA-256 of the message, where the message is
	// SignatureContext followed by the 32-byte contract hash.
	Sig string `json:"sig"`
}

func outputs() []string     { return []string{"findings", "aggregates", "model", "metrics"} }
func columnTypes() []string { return []string{"string", "int", "time", "bool"} }

// New returns revision 1 of a contract with the given parts, validated and
// unsigned.
func New(id string, parties []Party, datasets []Dataset, job Job, output OutputPolicy, enclave EnclavePolicy) (*Contract, error) {
	c := &Contract{Version: Version, ID: id, Revision: 1, Parties: parties, Datasets: datasets, Job: job, Output: output, Enclave: enclave}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks that c is well formed. It does not check signatures.
func (c *Contract) Validate() error {
	if c.Version != Version {
		return invalid("version", "is %d, want %d", c.Version, Version)
	}
	if c.ID == "" {
		return invalid("id", "empty")
	}
	if c.Revision < 1 {
		return invalid("revision", "must be at least 1")
	}
	if len(c.Parties) == 0 {
		return invalid("parties", "none")
	}
	names, prefixes := map[string]bool{}, map[string]bool{}
	for i, p := range c.Parties {
		f := fmt.Sprintf("parties[%d]", i)
		if p.Name == "" || names[p.Name] {
			return invalid(f+".name", "empty or duplicate %q", p.Name)
		}
		names[p.Name] = true
		if _, err := parseSigningKey(p.SigningKey); err != nil {
			return invalid(f+".signing_key", "%v", err)
		}
		if _, err := p.ResultKey.Parse(); err != nil {
			return invalid(f+".result_key", "%v", err)
		}
		if p.AccountPrefix == "" || strings.Contains(p.AccountPrefix, "-") || prefixes[p.AccountPrefix] {
			return invalid(f+".account_prefix", "empty, contains '-', or duplicate %q", p.AccountPrefix)
		}
		prefixes[p.AccountPrefix] = true
	}
	ids := map[string]bool{}
	for i, d := range c.Datasets {
		f := fmt.Sprintf("datasets[%d]", i)
		if d.ID == "" || ids[d.ID] || !dataset.ValidName(d.ID) {
			return invalid(f+".id", "empty, duplicate or not a valid object name: %q", d.ID)
		}
		ids[d.ID] = true
		if !names[d.Owner] {
			return invalid(f+".owner", "%q is not a party", d.Owner)
		}
		if len(d.Schema) == 0 {
			return invalid(f+".schema", "no columns")
		}
		cols := map[string]bool{}
		for j, col := range d.Schema {
			if col.Name == "" || cols[col.Name] || !slices.Contains(columnTypes(), col.Type) {
				return invalid(fmt.Sprintf("%s.schema[%d]", f, j), "empty or duplicate name, or type %q not one of %v", col.Type, columnTypes())
			}
			cols[col.Name] = true
		}
		if d.Digest != "" {
			if b, err := hex.DecodeString(d.Digest); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != d.Digest {
				return invalid(f+".digest", "not 64 lowercase hex digits")
			}
		}
	}
	if c.Job.Kind != "fraud" && c.Job.Kind != "train" {
		return invalid("job.kind", "%q is not fraud or train", c.Job.Kind)
	}
	for k, v := range c.Job.Params {
		if k == "" || math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid("job.params", "empty name or non-finite value for %q", k)
		}
	}
	if c.Output.MinGroupSize < 1 {
		return invalid("output.min_group_size", "must be at least 1")
	}
	for i, r := range c.Output.Recipients {
		if !names[r.Party] {
			return invalid(fmt.Sprintf("output.recipients[%d].party", i), "%q is not a party", r.Party)
		}
		for _, o := range r.Receives {
			if !slices.Contains(outputs(), o) {
				return invalid(fmt.Sprintf("output.recipients[%d].receives", i), "%q is not one of %v", o, outputs())
			}
		}
	}
	for i, col := range c.Output.Columns {
		if col == "" {
			return invalid(fmt.Sprintf("output.columns[%d]", i), "empty")
		}
	}
	if b, err := hex.DecodeString(c.Enclave.SignerID); err != nil || len(b) != 32 || hex.EncodeToString(b) != c.Enclave.SignerID {
		return invalid("enclave.signer_id", "not 64 lowercase hex digits")
	}
	if c.Enclave.Debug {
		return &InvalidError{Field: "enclave.debug", Reason: "true", Err: ErrDebug}
	}
	return nil
}

// Parse decodes a contract from its canonical JSON (as produced by
// Marshal) and validates it. It does not check signatures: call Verify.
func Parse(data []byte) (*Contract, error) {
	if len(data) > MaxSize {
		return nil, invalid("", "%d bytes exceeds %d", len(data), MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Contract
	if err := dec.Decode(&c); err != nil {
		return nil, invalid("", "%v", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(data)) {
		return nil, invalid("", "trailing data")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	again, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, ErrNotCanonical
	}
	return &c, nil
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("contract: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalized returns a copy with nil slices and maps made empty, so the
// canonical form does not depend on nil versus empty.
func (c *Contract) normalized() Contract {
	n := *c
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	n.Parties = slices.Clone(c.Parties)
	if n.Parties == nil {
		n.Parties = []Party{}
	}
	n.Datasets = slices.Clone(c.Datasets)
	if n.Datasets == nil {
		n.Datasets = []Dataset{}
	}
	for i := range n.Datasets {
		if n.Datasets[i].Schema == nil {
			n.Datasets[i].Schema = []dataset.Column{}
		}
	}
	if n.Job.Params == nil {
		n.Job.Params = map[string]float64{}
	}
	n.Output.Recipients = slices.Clone(c.Output.Recipients)
	if n.Output.Recipients == nil {
		n.Output.Recipients = []Recipient{}
	}
	for i := range n.Output.Recipients {
		n.Output.Recipients[i].Receives = nz(n.Output.Recipients[i].Receives)
	}
	n.Output.Columns = nz(c.Output.Columns)
	n.Signatures = slices.Clone(c.Signatures)
	if n.Signatures == nil {
		n.Signatures = []Signature{}
	}
	slices.SortFunc(n.Signatures, func(a, b Signature) int { return strings.Compare(a.Party, b.Party) })
	return n
}

// Canonical returns the canonical JSON of the contract without signatures:
// encoding/json output with fields in declaration order, map keys sorted,
// no insignificant whitespace, no HTML escaping, and "signatures":[].
func (c *Contract) Canonical() ([]byte, error) {
	n := c.normalized()
	n.Signatures = []Signature{}
	return encode(&n)
}

// Marshal returns the canonical JSON of the whole contract, with its
// signatures sorted by party name.
func (c *Contract) Marshal() ([]byte, error) {
	n := c.normalized()
	return encode(&n)
}

// Hash returns SHA-256 of Canonical.
func (c *Contract) Hash() ([32]byte, error) {
	b, err := c.Canonical()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Party returns the named party.
func (c *Contract) Party(name string) (*Party, error) {
	for i := range c.Parties {
		if c.Parties[i].Name == name {
			return &c.Parties[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownParty, name)
}

// PartyByPrefix returns the party whose AccountPrefix is prefix, or nil.
func (c *Contract) PartyByPrefix(prefix string) *Party {
	for i := range c.Parties {
		if c.Parties[i].AccountPrefix == prefix {
			return &c.Parties[i]
		}
	}
	return nil
}

// SignedMessage returns the bytes a party signs for a contract hash.
func SignedMessage(hash [32]byte) []byte {
	return append([]byte(SignatureContext), hash[:]...)
}

// Sign adds (or replaces) party's signature over the contract hash. key must
// be the private key matching the party's SigningKey (ed25519.PrivateKey or
// *ecdsa.PrivateKey on P-256). ECDSA randomness comes from crypto/rand.
func (c *Contract) Sign(party string, key crypto.Signer) error {
	p, err := c.Party(party)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	pub, _ := parseSigningKey(p.SigningKey)
	if eq, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return fmt.Errorf("%w: %q", ErrWrongKey, party)
	}
	h, err := c.Hash()
	if err != nil {
		return err
	}
	msg := SignedMessage(h)
	var sig []byte
	switch pub.(type) {
	case ed25519.PublicKey:
		sig, err = key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		sig, err = key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	if err != nil {
		return fmt.Errorf("contract: sign: %w", err)
	}
	c.Signatures = slices.DeleteFunc(c.Signatures, func(s Signature) bool { return s.Party == party })
	c.Signatures = append(c.Signatures, Signature{Party: party, Sig: base64.StdEncoding.EncodeToString(sig)})
	return nil
}

// AddSignature records a signature made elsewhere (for example read from
// the governance log) after checking it against the party's key.
func (c *Contract) AddSignature(s Signature) error {
	h, err := c.Hash()
	if err != nil {
		return err
	}
	if err := c.checkSignature(h, s); err != nil {
		return err
	}
	c.Signatures = slices.DeleteFunc(c.Signatures, func(x Signature) bool { return x.Party == s.Party })
	c.Signatures = append(c.Signatures, s)
	return nil
}

func (c *Contract) checkSignature(h [32]byte, s Signature) error {
	p, err := c.Party(s.Party)
	if err != nil {
		return &SignatureError{Party: s.Party, Reason: "not a party"}
	}
	pub, err := parseSigningKey(p.SigningKey)
	if err != nil {
		return &SignatureError{Party: s.Party, Reason: "party key: " + err.Error()}
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s.Sig)
	if err != nil {
		return &SignatureError{Party: s.Party, Reason: "not base64"}
	}
	msg := SignedMessage(h)
	ok := false
	switch k := pub.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		ok = ecdsa.VerifyASN1(k, d[:], sig)
	}
	if !ok {
		return &SignatureError{Party: s.Party, Reason: "does not verify over the current contract hash"}
	}
	return nil
}

// Verify reports whether the contract is active: valid, every signature
// verifies over the current hash, no party signed twice, and every party
// has signed. Missing parties give an *UnsignedError (ErrUnsigned); a bad or
// stray signature gives a *SignatureError (ErrBadSignature).
func (c *Contract) Verify() error {
	if err := c.Validate(); err != nil {
		return err
	}
	h, err := c.Hash()
	if err != nil {
		return err
	}
	signed := map[string]bool{}
	for _, s := range c.Signatures {
		if signed[s.Party] {
			return &SignatureError{Party: s.Party, Reason: "signed twice"}
		}
		if err := c.checkSignature(h, s); err != nil {
			return err
		}
		signed[s.Party] = true
	}
	var missing []string
	for _, p := range c.Parties {
		if !signed[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		return &UnsignedError{Parties: missing}
	}
	return nil
}

func parseSigningKey(s string) (crypto.PublicKey, error) {
	der, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key type %T is not Ed25519 or ECDSA P-256", pub)
}

// EncodeSigningKey returns the SigningKey encoding of an Ed25519 or ECDSA
// P-256 public key.
func EncodeSigningKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("contract: %w", err)
	}
	s := base64.StdEncoding.EncodeToString(der)
	if _, err := parseSigningKey(s); err != nil {
		return "", fmt.Errorf("contract: %w", err)
	}
	return s, nil
}

// NewResultKey returns the ResultKey encoding of an X25519 or P-256 ECDH key.
func NewResultKey(pub *ecdh.PublicKey) (ResultKey, error) {
	var kem string
	switch pub.Curve() {
	case ecdh.X25519():
		kem = "X25519"
	case ecdh.P256():
		kem = "P256"
	default:
		return ResultKey{}, errors.New("contract: result key must be X25519 or P-256")
	}
	return ResultKey{KEM: kem, Key: base64.StdEncoding.EncodeToString(pub.Bytes())}, nil
}

// Parse decodes the result key.
func (k ResultKey) Parse() (*ecdh.PublicKey, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(k.Key)
	if err != nil {
		return nil, errors.New("not base64")
	}
	switch k.KEM {
	case "X25519":
		return ecdh.X25519().NewPublicKey(raw)
	case "P256":
		return ecdh.P256().NewPublicKey(raw)
	}
	return nil, fmt.Errorf("kem %q is not X25519 or P256", k.KEM)
}

// EnclaveError says why an enclave identity is refused.
type EnclaveError struct {
	// Reason says what did not match.
	Reason string
}

func (e *EnclaveError) Error() string { return "contract: enclave not allowed: " + e.Reason }

// Unwrap returns ErrEnclave.
func (e *EnclaveError) Unwrap() error { return ErrEnclave }

// Allows checks an enclave identity against the policy: same signer (compared
// in constant time), same product, security version at least the minimum,
// and never debug.
func (p *EnclavePolicy) Allows(id image.Identity) error {
	return p.check(id.SignerID[:], id.ProductID, id.SecurityVersion, id.Debug)
}

// AllowsClaims checks verified attestation claims against the policy, as
// Allows does. Simulated evidence is the caller's policy decision.
func (p *EnclavePolicy) AllowsClaims(c *attest.Claims) error {
	return p.check(c.SignerID, c.ProductID, c.SecurityVersion, c.Debug)
}

func (p *EnclavePolicy) check(signer []byte, product, svn uint16, debug bool) error {
	want, err := hex.DecodeString(p.SignerID)
	switch {
	case err != nil || len(want) != 32:
		return &EnclaveError{Reason: "policy signer_id is not 32 bytes of hex"}
	case p.Debug:
		return &EnclaveError{Reason: "policy allows debug"}
	case debug:
		return &EnclaveError{Reason: "enclave is a debug enclave"}
	case subtle.ConstantTimeCompare(signer, want) != 1:
		return &EnclaveError{Reason: "signer ID does not match"}
	case product != p.ProductID:
		return &EnclaveError{Reason: fmt.Sprintf("product ID %d, want %d", product, p.ProductID)}
	case svn < p.MinSecurityVersion:
		return &EnclaveError{Reason: fmt.Sprintf("security version %d below minimum %d", svn, p.MinSecurityVersion)}
	}
	return nil
}
