package enclave

import (
	"errors"
	"fmt"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/boundary"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// openPlatform opens the platform the host asked for, for the enclave with
// image img. It runs before the sandbox is in force: a platform loads all
// the state it needs from disk here.
func openPlatform(h *boundary.HostHello, img *image.Image) (tee.Platform, error) {
	switch h.Platform {
	case "sim", "":
		// Hardware backends (tee/gramine, tee/tsm) are chosen here when
		// the host asks for them; simulation is the default.
		if h.SimDir == "" {
			return nil, errors.New("enclave: no state directory for the simulated platform")
		}
		p, err := sim.Open(h.SimDir, img.Identity, sim.Options{})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("enclave: unknown platform %q", h.Platform)
}
