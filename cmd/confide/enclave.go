package main

import (
	"os"

	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/internal/builtin"
)

// The confide binary doubles as its built-in enclaves (internal/builtin):
// a host that loads a signed copy of it starts it as an enclave, the
// enclave package's initialization (which runs before this) measures and
// hardens the process, and this init serves the ecall table of the image's
// ProductID instead of running the command line. main never runs.
func init() {
	if !enclave.Running() {
		return
	}
	if err := builtin.Serve(); err != nil {
		// The enclave has no stderr of its own to report on (a release
		// enclave's goes nowhere); the host sees the exit status.
		os.Exit(1)
	}
	os.Exit(0)
}
