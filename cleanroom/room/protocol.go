package room

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide-dev/confide/cleanroom"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/policy"
)

// Errors callers branch on. A refusal inside the enclave reaches the host
// as a status code (the boundary carries only text), which Run maps back
// to these sentinels or to the cleanroom packages' own.
var (
	// ErrRequest reports a malformed run request.
	ErrRequest = errors.New("room: malformed run request")
	// ErrAttestation reports evidence the attestation service refused
	// (it did not verify, or the appraisal policy denied it).
	ErrAttestation = errors.New("room: attestation refused")
	// ErrKeyRelease reports a data key the key broker did not release to
	// the enclave, or a release that did not unwrap.
	ErrKeyRelease = errors.New("room: data key not released")
	// ErrNetwork reports a service the enclave could not reach.
	ErrNetwork = errors.New("room: attestation service unreachable")
	// ErrOutput reports an output whose signature, evidence or binding to
	// the contract does not verify.
	ErrOutput = errors.New("room: output does not verify")
	// ErrFailed reports any other failure inside the enclave.
	ErrFailed = errors.New("room: enclave run failed")
)

// Status codes returned by the room_run ecall.
const (
	statusOK uint32 = iota
	statusRequest
	statusInvalid
	statusUnsigned
	statusSignature
	statusEnclave
	statusAttestation
	statusKeyRelease
	statusNetwork
	statusDatasetAuth
	statusDatasetDigest
	statusNotReady
	statusOutputPolicy
	statusFailed
	statusFormat
	statusMax
)

// statusErrors maps a status to the error class it stands for.
var statusErrors = [statusMax]error{
	statusRequest:       ErrRequest,
	statusInvalid:       contract.ErrInvalid,
	statusUnsigned:      contract.ErrUnsigned,
	statusSignature:     contract.ErrBadSignature,
	statusEnclave:       contract.ErrEnclave,
	statusAttestation:   ErrAttestation,
	statusKeyRelease:    ErrKeyRelease,
	statusNetwork:       ErrNetwork,
	statusDatasetAuth:   dataset.ErrAuth,
	statusDatasetDigest: dataset.ErrDigest,
	statusNotReady:      cleanroom.ErrNotReady,
	statusOutputPolicy:  policy.ErrOutputPolicy,
	statusFailed:        ErrFailed,
	statusFormat:        dataset.ErrFormat,
}

// statusOf classifies an error for the boundary, most specific first.
func statusOf(err error) uint32 {
	for _, s := range []uint32{statusOutputPolicy, statusDatasetDigest, statusDatasetAuth, statusFormat,
		statusUnsigned, statusSignature, statusInvalid, statusEnclave, statusAttestation,
		statusKeyRelease, statusNetwork, statusNotReady, statusRequest} {
		if errors.Is(err, statusErrors[s]) {
			return s
		}
	}
	return statusFailed
}

// RunError is a refusal or failure reported by the enclave. Reason is the
// enclave's message; it never carries data, only what went wrong.
type RunError struct {
	// Status is the room_run status code.
	Status uint32
	// Reason is the enclave's message.
	Reason string
}

func (e *RunError) Error() string {
	return fmt.Sprintf("room: enclave refused the run: %s", e.Reason)
}

// Unwrap returns the error class of Status.
func (e *RunError) Unwrap() error {
	if e.Status < statusMax && statusErrors[e.Status] != nil {
		return statusErrors[e.Status]
	}
	return ErrFailed
}

// maxReason is the size of the room_run reason buffer (EDL).
const maxReason = 512

// Request is what the host hands the enclave: the signed contract and
// where to find the service, keys and datasets. Every field is untrusted:
// the enclave verifies the contract's signatures, the service's TLS
// certificate, the released keys' authenticity and the datasets' digests.
type Request struct {
	// Contract is the signed contract (contract.Marshal).
	Contract []byte `json:"contract"`
	// Service is the attestation service's base URL (https).
	Service string `json:"service"`
	// ServiceCA is the PEM certificate(s) the service's TLS certificate
	// must chain to. The enclave has no system roots (it cannot read
	// files), so it is required.
	ServiceCA []byte `json:"service_ca"`
	// Secrets maps each dataset ID to the key broker secret holding its
	// data key.
	Secrets map[string]string `json:"secrets"`
	// Objects maps each dataset ID to its object name in storage; a
	// dataset missing here is read under its own ID.
	Objects map[string]string `json:"objects,omitempty"`
}

// parseRequest decodes a Request strictly.
func parseRequest(b []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrRequest)
	}
	if !strings.HasPrefix(r.Service, "https://") {
		return nil, fmt.Errorf("%w: service URL must be https", ErrRequest)
	}
	if len(r.ServiceCA) == 0 {
		return nil, fmt.Errorf("%w: no service CA", ErrRequest)
	}
	return &r, nil
}

// RuntimeData is the JSON document the enclave binds into its evidence:
// the report data is SHA-256 of its exact bytes followed by 32 zero bytes,
// as Microsoft Azure Attestation expects, and the service copies it into
// the token as x-ms-runtime.
type RuntimeData struct {
	// Keys are the enclave's ephemeral public keys: Keys[0] (use "enc")
	// is the P-256 key the key broker wraps released keys to, Keys[1]
	// (use "sig") the P-256 key that signs outputs.
	Keys []jose.JSONWebKey `json:"keys"`
	// ContractHash is the lowercase hex hash of the contract being run.
	ContractHash string `json:"contract_hash"`
}

// OutputVersion is the version of the Output format.
const OutputVersion = 1

// OutputContext prefixes the message an output's signature covers.
const OutputContext = "confide-cleanroom-output-v1\x00"

// Output is one party's result as it leaves the enclave: the release sealed
// to the party's result key, signed with the enclave's ephemeral key, and
// the evidence that binds that key to the enclave and the contract.
type Output struct {
	// Version is OutputVersion.
	Version int `json:"version"`
	// Party is the recipient.
	Party string `json:"party"`
	// ContractHash is the lowercase hex contract hash.
	ContractHash string `json:"contract_hash"`
	// Sealed is the release sealed with policy.Seal.
	Sealed []byte `json:"sealed"`
	// Quote is the enclave's evidence (an SGX DCAP quote).
	Quote []byte `json:"quote"`
	// RuntimeData is the exact runtime data bound into Quote.
	RuntimeData []byte `json:"runtime_data"`
	// Token is the attestation service's token for Quote (informational:
	// verifiers check Quote themselves).
	Token string `json:"token,omitempty"`
	// Signature is an ASN.1 ECDSA P-256 signature by RuntimeData's "sig"
	// key over SHA-256 of SignedOutputMessage.
	Signature []byte `json:"signature"`
}

// SignedOutputMessage returns the message an output's signature covers:
// OutputContext, the contract hash, SHA-256 of the party name and SHA-256
// of the sealed release.
func SignedOutputMessage(contractHash [32]byte, party string, sealed []byte) []byte {
	m := make([]byte, 0, len(OutputContext)+96)
	m = append(m, OutputContext...)
	m = append(m, contractHash[:]...)
	ph := sha256.Sum256([]byte(party))
	m = append(m, ph[:]...)
	sh := sha256.Sum256(sealed)
	return append(m, sh[:]...)
}

// ParseOutput decodes an Output strictly.
func ParseOutput(b []byte) (*Output, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o Output
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutput, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrOutput)
	}
	if o.Version != OutputVersion {
		return nil, fmt.Errorf("%w: version %d", ErrOutput, o.Version)
	}
	return &o, nil
}

// parseRuntimeData decodes runtime data and returns its signing key.
func parseRuntimeData(b []byte) (*RuntimeData, *ecdsa.PublicKey, error) {
	var rd RuntimeData
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rd); err != nil || dec.More() {
		return nil, nil, fmt.Errorf("%w: runtime data is not one JSON object", ErrOutput)
	}
	if len(rd.Keys) != 2 || rd.Keys[1].Use != "sig" {
		return nil, nil, fmt.Errorf("%w: runtime data must hold an enc and a sig key", ErrOutput)
	}
	pub, ok := rd.Keys[1].Key.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: signing key is not ECDSA", ErrOutput)
	}
	if _, err := hex.DecodeString(rd.ContractHash); err != nil || len(rd.ContractHash) != 64 {
		return nil, nil, fmt.Errorf("%w: bad contract hash in runtime data", ErrOutput)
	}
	return &rd, pub, nil
}
