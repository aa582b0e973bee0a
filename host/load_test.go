package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// children returns the number of child processes of this process.
func children(t *testing.T) int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	n := 0
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n += len(strings.Fields(string(b)))
	}
	return n
}

func TestLoadRefusesBadImages(t *testing.T) {
	key := enclavetest.Key(t)
	signed := enclavetest.Signed(t, enclavetest.TestEnclave, enclavetest.Config(1), key)
	good, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(enclavetest.Binary(t, enclavetest.TestEnclave))
	if err != nil {
		t.Fatal(err)
	}
	debugCfg := enclavetest.Config(1)
	debugCfg.Debug = true
	debugImg, err := image.Sign(bin, debugCfg, key)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		data []byte
		opts host.Options
		want error // the error Load must match
		alt  error // or this one, where the bytes are ambiguous
	}{
		// A cut through the footer leaves no trailer to recognise: such an
		// image reads as unsigned, and is refused as such.
		{"truncated trailer", good[:len(good)-7], host.Options{}, image.ErrMalformed, image.ErrUnsigned},
		{"trailer cut in half", good[:len(good)-200], host.Options{}, image.ErrMalformed, image.ErrUnsigned},
		{"flipped byte at start of binary", mutate(func(b []byte) []byte { b[0] ^= 1; return b }), host.Options{}, image.ErrSignature, nil},
		{"flipped byte in middle of binary", mutate(func(b []byte) []byte { b[len(bin)/2] ^= 0x80; return b }), host.Options{}, image.ErrSignature, nil},
		{"flipped byte at end of binary", mutate(func(b []byte) []byte { b[len(bin)-1] ^= 1; return b }), host.Options{}, image.ErrSignature, nil},
		{"flipped signature byte", mutate(func(b []byte) []byte { b[len(b)-30] ^= 1; return b }), host.Options{}, image.ErrSignature, nil},
		{"unsigned without debug", bin, host.Options{}, image.ErrUnsigned, nil},
		{"debug image without debug option", debugImg, host.Options{}, host.ErrDebugImage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "enclave.signed")
			if err := os.WriteFile(p, tc.data, 0o755); err != nil {
				t.Fatal(err)
			}
			before := children(t)
			tc.opts.SimDir = enclavetest.SimDir(t)
			e, err := host.Load(context.Background(), p, tc.opts)
			if err == nil {
				e.Close()
				t.Fatalf("Load() succeeded; want %v", tc.want)
			}
			if !errors.Is(err, tc.want) && (tc.alt == nil || !errors.Is(err, tc.alt)) {
				t.Fatalf("Load() = %v; want %v", err, tc.want)
			}
			if after := children(t); after != before {
				t.Fatalf("Load() refused the image but started a process (%d children, was %d)", after, before)
			}
		})
	}
}

func TestLoadUnsignedForDebug(t *testing.T) {
	bin := enclavetest.Binary(t, enclavetest.TestEnclave)
	e, err := host.Load(context.Background(), bin, host.Options{Debug: true, Stderr: ioDiscard{}, SimDir: enclavetest.SimDir(t)})
	if err != nil {
		t.Fatalf("Load(unsigned, Debug) = %v", err)
	}
	defer e.Close()
	if id := e.Identity(); !id.Debug || id.SignerID != [32]byte{} {
		t.Fatalf("unsigned image identity = %+v; want debug with zero signer", id)
	}
	if out, err := e.Call(context.Background(), enclavetest.FnEcho, []byte("x")); err != nil || string(out) != "x" {
		t.Fatalf("Call() = %q, %v", out, err)
	}
}

// TestFileSwapAfterLoad checks that the enclave runs the bytes that were
// verified: replacing the file after Load changes nothing.
func TestFileSwapAfterLoad(t *testing.T) {
	path := enclavetest.Signed(t, enclavetest.TestEnclave, enclavetest.Config(1), nil)
	e, err := host.Load(context.Background(), path, host.Options{SimDir: enclavetest.SimDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := os.WriteFile(path, []byte("garbage"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := e.Call(context.Background(), enclavetest.FnIdentity, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := e.Identity()
	if string(got[:32]) != string(id.UniqueID[:]) {
		t.Fatal("enclave identity changed after the file on disk was replaced")
	}
}
