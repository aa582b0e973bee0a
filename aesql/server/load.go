package server

import (
	"context"
	"crypto"
	"errors"
	"io"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
)

// EnclaveOptions configure StartEnclave.
type EnclaveOptions struct {
	// Key signs the enclave image; its public key is the enclave's
	// SignerID, which clients' attestation policies name. Required.
	Key crypto.Signer
	// SecurityVersion is the enclave's ISV security version. Zero: 1.
	SecurityVersion uint16
	// Debug signs a debug enclave (attestation policies refuse it unless
	// they allow debug). Zero: release.
	Debug bool
	// Platform forces the platform ("sim"). Zero: detected.
	Platform string
	// SimDir is the simulated platform's state directory. Zero: the
	// simulator's default.
	SimDir string
	// Threads is the number of enclave threads. Zero: 8.
	Threads uint32
}

// StartEnclave signs the running executable as the SQL enclave (the
// confide binary, or a test binary that serves internal/builtin when
// started as an enclave) and loads it. Close the enclave when done.
func StartEnclave(ctx context.Context, o EnclaveOptions) (*host.Enclave, error) {
	if o.Key == nil {
		return nil, errors.New("server: EnclaveOptions.Key is required")
	}
	cfg := image.DefaultConfig()
	cfg.ProductID = builtin.ProductSQL
	cfg.SecurityVersion = max(o.SecurityVersion, 1)
	cfg.Debug = o.Debug
	cfg.NumTCS = o.Threads
	if cfg.NumTCS == 0 {
		cfg.NumTCS = 8
	}
	cfg.NumHeapPages = 1 << 21
	path, cleanup, err := builtin.SignSelf(cfg, o.Key)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return host.Load(ctx, path, host.Options{Debug: o.Debug, Platform: o.Platform, SimDir: o.SimDir, Stdout: io.Discard, Stderr: io.Discard})
}
