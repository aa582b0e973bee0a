package servicetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/confide-dev/confide/attest"
)

// Prefix starts every piece of double evidence.
const Prefix = "confide-servicetest-evidence-v1:"

// ErrNotDouble is returned for evidence the double did not make.
var ErrNotDouble = errors.New("servicetest: not servicetest evidence")

// Verifier is the double. The zero value is ready to use.
type Verifier struct{}

// Verify decodes evidence made by Evidence. kind must fit the claims' TEE
// (TdxVm for TDX, SgxEnclave or OpenEnclave for SGX).
func (Verifier) Verify(_ context.Context, kind string, evidence []byte) (*attest.Claims, error) {
	body, ok := bytes.CutPrefix(evidence, []byte(Prefix))
	if !ok {
		return nil, ErrNotDouble
	}
	var c attest.Claims
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: bad claims JSON", ErrNotDouble)
	}
	want := attest.SGX
	if kind == "TdxVm" {
		want = attest.TDX
	}
	if c.TEE != want {
		return nil, fmt.Errorf("servicetest: %s evidence sent as %s", c.TEE, kind)
	}
	return &c, nil
}

// Evidence returns double evidence that verifies to c.
func Evidence(c *attest.Claims) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return append([]byte(Prefix), b...)
}

// SGXClaims returns production-looking SGX claims whose report data binds
// runtime (SHA-256 then 32 zero bytes), as an enclave following MAA does.
func SGXClaims(runtime []byte) *attest.Claims {
	rd := make([]byte, 64)
	h := sha256.Sum256(runtime)
	copy(rd, h[:])
	return &attest.Claims{
		TEE:             attest.SGX,
		UniqueID:        bytes.Repeat([]byte{0x11}, 32),
		SignerID:        bytes.Repeat([]byte{0x22}, 32),
		ProductID:       1,
		SecurityVersion: 2,
		ReportData:      rd,
		TCBStatus:       attest.UpToDate,
		AdvisoryIDs:     []string{},
	}
}
