package image

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrUnsigned reports data that carries no signed trailer.
	ErrUnsigned = errors.New("image: unsigned image")
	// ErrSigned reports data that already carries a signed trailer where an
	// unsigned binary was expected (OpenUnsigned).
	ErrSigned = errors.New("image: image is already signed")
	// ErrMalformed reports a trailer that is truncated, garbled, has bad
	// lengths, an unknown version, non-zero reserved fields or trailing data.
	ErrMalformed = errors.New("image: malformed trailer")
	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("image: signature does not verify")
	// ErrKeyType reports a key other than RSA-3072, ECDSA P-256 or P-384.
	ErrKeyType = errors.New("image: unsupported key type")
	// ErrConfig reports an invalid enclave config.
	ErrConfig = errors.New("image: invalid config")
)

// ConfigError describes an invalid enclave config: a bad line of a config
// file (Line > 0) or a value out of range (Line == 0). It unwraps to
// ErrConfig.
type ConfigError struct {
	// Line is the 1-based line of the config file, or 0 when the error is
	// not tied to a line (Validate, a canonical encoding).
	Line int
	// Key is the config key concerned, or "" when the line has none.
	Key string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string {
	switch {
	case e.Line > 0 && e.Key != "":
		return fmt.Sprintf("image: config line %d: %s: %s", e.Line, e.Key, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("image: config line %d: %s", e.Line, e.Reason)
	case e.Key != "":
		return fmt.Sprintf("image: config: %s: %s", e.Key, e.Reason)
	}
	return "image: config: " + e.Reason
}

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func malformed(format string, args ...any) error {
	return fmt.Errorf("image: malformed trailer: "+format+": %w", append(args, ErrMalformed)...)
}
