package helloworld_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// TestHelloWorld builds, signs and runs the sample as a user would, and
// checks what the host prints.
func TestHelloWorld(t *testing.T) {
	f, err := os.Open("enclave.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := image.ParseConfig(f)
	f.Close()
	if err != nil {
		t.Fatalf("ParseConfig(enclave.conf) = %v", err)
	}
	enc := enclavetest.Signed(t, "github.com/confide-dev/confide/examples/helloworld/enclave", cfg, nil)
	hostBin := enclavetest.Binary(t, "github.com/confide-dev/confide/examples/helloworld/host")

	cmd := exec.Command(hostBin, "--simulate", enc)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(enclavetest.SimDir(t)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("host --simulate %s: %v\n%s", enc, err, out)
	}
	want := "Hello from the enclave\nCall from enclave acknowledged.\n"
	if string(out) != want {
		t.Fatalf("host printed %q; want %q", out, want)
	}
}
