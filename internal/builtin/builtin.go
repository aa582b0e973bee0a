package builtin

import (
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/confide-dev/confide/aesql/sqlenclave"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/image"
)

// ProductBench is the ProductID of the boundary benchmark enclave.
const ProductBench uint16 = 0xB0

// ProductCleanroom is the ProductID of the clean-room enclave
// (cleanroom/room).
const ProductCleanroom uint16 = 0xC1

// ProductSQL is the ProductID of the confidential SQL server's enclave
// (aesql/sqlenclave).
const ProductSQL uint16 = 0xA5

// Ecall IDs of the ProductBench enclave.
const (
	// FnEcho returns its input.
	FnEcho uint32 = 0
	// FnSink returns the length of its input as a little-endian uint64:
	// an [in]-only transfer.
	FnSink uint32 = 1
	// FnOcalls makes regular ocalls (OcallBench) as its input, made with
	// OcallsRequest, asks, and returns how long each one took (see
	// ParseOcallTimes).
	FnOcalls uint32 = 2
	// FnOcallsSwitchless is FnOcalls with enclave.OcallSwitchless.
	FnOcallsSwitchless uint32 = 3
)

// OcallBench is the host function the ProductBench enclave calls from
// FnOcalls and FnOcallsSwitchless. The host may answer with anything; the
// answer is discarded.
const OcallBench uint32 = 0

// MaxOcalls bounds the number of ocalls one FnOcalls ecall makes.
const MaxOcalls = 1 << 16

// ocallsHeader is the size of the header of an ocalls request: a
// little-endian uint32 count followed by a uint32 that must be zero.
const ocallsHeader = 8

var (
	// ErrUnknownProduct is returned by Ecalls for a ProductID that names
	// no built-in enclave.
	ErrUnknownProduct = errors.New("builtin: no built-in enclave for this product ID")
	// ErrMalformed reports an ocalls request or result that does not
	// decode.
	ErrMalformed = errors.New("builtin: malformed bench message")
)

// Ecalls returns the ecall table of the built-in enclave for productID,
// or an error matching ErrUnknownProduct.
func Ecalls(productID uint16) (enclave.Ecalls, error) {
	switch productID {
	case ProductBench:
		return benchEcalls(enclave.Ocall, enclave.OcallSwitchless), nil
	case ProductCleanroom:
		return room.Ecalls(), nil
	case ProductSQL:
		return sqlenclave.Ecalls(), nil
	}
	return nil, fmt.Errorf("%w: %#x", ErrUnknownProduct, productID)
}

// ocallFunc is the signature of enclave.Ocall and enclave.OcallSwitchless.
type ocallFunc func(ctx context.Context, fn uint32, in []byte) ([]byte, error)

// benchEcalls builds the ProductBench table on the given ocall functions
// (injected so that the table can be tested outside an enclave).
func benchEcalls(ocall, ocallSwitchless ocallFunc) enclave.Ecalls {
	return enclave.Ecalls{
		FnEcho: func(ctx context.Context, in []byte) ([]byte, error) { return in, nil },
		FnSink: func(ctx context.Context, in []byte) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(nil, uint64(len(in))), nil
		},
		FnOcalls: func(ctx context.Context, in []byte) ([]byte, error) {
			return makeOcalls(ctx, in, ocall)
		},
		FnOcallsSwitchless: func(ctx context.Context, in []byte) ([]byte, error) {
			return makeOcalls(ctx, in, ocallSwitchless)
		},
	}
}

// makeOcalls serves FnOcalls: it makes the requested ocalls one after the
// other and returns the round-trip time of each.
func makeOcalls(ctx context.Context, in []byte, call ocallFunc) ([]byte, error) {
	n, payload, err := parseOcallsRequest(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", enclave.ErrInvalidParameter, err)
	}
	out := make([]byte, 0, 8*n)
	for range n {
		start := time.Now()
		if _, err := call(ctx, OcallBench, payload); err != nil {
			return nil, err
		}
		out = binary.LittleEndian.AppendUint64(out, uint64(time.Since(start)))
	}
	return out, nil
}

// OcallsRequest encodes the input of FnOcalls: make count ocalls, each
// with payload. count must be in 1..MaxOcalls. The encoding is count as a
// little-endian uint32, a uint32 that must be zero, then the payload.
func OcallsRequest(count int, payload []byte) ([]byte, error) {
	if count < 1 || count > MaxOcalls {
		return nil, fmt.Errorf("%w: ocall count %d out of range 1..%d", ErrMalformed, count, MaxOcalls)
	}
	b := make([]byte, ocallsHeader, ocallsHeader+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(count))
	return append(b, payload...), nil
}

// parseOcallsRequest decodes the input of FnOcalls. The payload aliases in
// (the runtime gave the handler its own copy).
func parseOcallsRequest(in []byte) (count int, payload []byte, err error) {
	if len(in) < ocallsHeader {
		return 0, nil, fmt.Errorf("%w: ocalls request of %d bytes is shorter than its %d-byte header", ErrMalformed, len(in), ocallsHeader)
	}
	n := binary.LittleEndian.Uint32(in)
	if n < 1 || n > MaxOcalls {
		return 0, nil, fmt.Errorf("%w: ocall count %d out of range 1..%d", ErrMalformed, n, MaxOcalls)
	}
	if r := binary.LittleEndian.Uint32(in[4:]); r != 0 {
		return 0, nil, fmt.Errorf("%w: reserved field is %#x, must be 0", ErrMalformed, r)
	}
	return int(n), in[ocallsHeader:], nil
}

// maxOcallTime bounds a reported ocall time: an hour is not a round trip.
const maxOcallTime = time.Hour

// ParseOcallTimes decodes the result of an FnOcalls ecall that asked for
// count ocalls: count little-endian uint64 durations in nanoseconds, each
// below an hour. Anything else (short, long, absurd) is ErrMalformed: the
// enclave's answer is checked like any other untrusted input.
func ParseOcallTimes(out []byte, count int) ([]time.Duration, error) {
	if count < 1 || count > MaxOcalls || len(out) != 8*count {
		return nil, fmt.Errorf("%w: ocall times of %d bytes for %d ocalls", ErrMalformed, len(out), count)
	}
	ds := make([]time.Duration, count)
	for i := range ds {
		v := binary.LittleEndian.Uint64(out[8*i:])
		if v >= uint64(maxOcallTime) {
			return nil, fmt.Errorf("%w: ocall time %d ns out of range", ErrMalformed, v)
		}
		ds[i] = time.Duration(v)
	}
	return ds, nil
}

// SignSelf signs the running executable as a built-in enclave: it reads
// os.Executable, signs it under cfg with key (a trailer the executable
// already carries is replaced) and writes the signed image to a new
// temporary file. cleanup removes the file. cfg.ProductID selects the
// built-in enclave (ProductBench, ...).
func SignSelf(cfg image.Config, key crypto.Signer) (path string, cleanup func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("builtin: find own executable: %w", err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", nil, fmt.Errorf("builtin: read own executable: %w", err)
	}
	signed, err := image.Sign(bin, cfg, key)
	if err != nil {
		return "", nil, fmt.Errorf("builtin: sign own executable: %w", err)
	}
	f, err := os.CreateTemp("", "confide-builtin-*.signed")
	if err != nil {
		return "", nil, fmt.Errorf("builtin: %w", err)
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := f.Write(signed); err != nil {
		f.Close()
		cleanup()
		return "", nil, fmt.Errorf("builtin: write signed image: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("builtin: write signed image: %w", err)
	}
	return f.Name(), cleanup, nil
}

// Serve serves the built-in enclave named by the ProductID of this
// enclave's signed config, with enclave.Run. It returns nil when the host
// shut the enclave down in order, ErrUnknownProduct for a ProductID that
// names no built-in enclave, and enclave.ErrNotEnclave when the process
// was not started as an enclave.
func Serve() error {
	cfg, err := enclave.Config()
	if err != nil {
		return err
	}
	ecalls, err := Ecalls(cfg.ProductID)
	if err != nil {
		return err
	}
	return enclave.Run(ecalls)
}
