package servicetest

import (
	"crypto/sha256"
	"fmt"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// Sim is a simulated SGX platform for tests and benchmarks of the service:
// its quotes are real DCAP quotes, checked by the real verifier under the
// platform's simulated root.
type Sim struct {
	// Dir is the platform's state directory.
	Dir      string
	state    *sim.State
	platform *sim.Platform
}

// SimIdentity is the enclave identity that Sim quotes for: the same
// measurements as SGXClaims.
func SimIdentity() image.Identity {
	var id image.Identity
	for i := range id.UniqueID {
		id.UniqueID[i] = 0x11
		id.SignerID[i] = 0x22
	}
	id.ProductID, id.SecurityVersion = 1, 2
	return id
}

// NewSim creates (or opens) a simulated platform in dir that quotes for
// SimIdentity.
func NewSim(dir string) (*Sim, error) {
	st, err := sim.Init(dir)
	if err != nil {
		return nil, fmt.Errorf("servicetest: %w", err)
	}
	p, err := st.Platform(SimIdentity(), sim.Options{})
	if err != nil {
		return nil, fmt.Errorf("servicetest: %w", err)
	}
	return &Sim{Dir: dir, state: st, platform: p}, nil
}

// Quote returns a quote whose report data binds runtime as MAA expects:
// SHA-256(runtime) followed by 32 zero bytes.
func (s *Sim) Quote(runtime []byte) ([]byte, error) {
	var rd [tee.ReportDataSize]byte
	h := sha256.Sum256(runtime)
	copy(rd[:], h[:])
	return s.platform.Quote(rd)
}

// Verifier returns the real evidence verifier, trusting this platform's
// simulated root and collateral.
func (s *Sim) Verifier() *verifier.Verifier {
	return verifier.New(verifier.WithSimulated(s.state.RootCertificate(), s.state.Getter(), nil))
}
