//go:build !linux || !(amd64 || arm64)

package harden

// Apply returns ErrUnsupported: hardening is implemented only for Linux on
// amd64 and arm64.
func Apply(opts Options) error { return ErrUnsupported }

// Check returns ErrUnsupported: hardening is implemented only for Linux on
// amd64 and arm64.
func Check() error { return ErrUnsupported }

// Status returns ErrUnsupported: hardening is implemented only for Linux on
// amd64 and arm64.
func Status() (State, error) { return State{}, ErrUnsupported }
