// Command enclave is the trusted half of the hello world sample: it prints
// a greeting through the host and calls the host back. Its interface is
// ../functions.edl, compiled to package functions by confide edger8r.
package main

import (
	"context"
	"os"

	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/examples/helloworld/functions"
)

// trusted implements the EDL's trusted functions.
type trusted struct{}

// EnclaveMessage is enclave_message().
func (trusted) EnclaveMessage(ctx context.Context) error {
	// The enclave has no stdout of its own: Print goes through the host.
	if err := enclave.Print(ctx, "Hello from the enclave\n"); err != nil {
		return err
	}
	return functions.HostAcknowledgment(ctx)
}

func main() {
	if err := enclave.Run(functions.Ecalls(trusted{})); err != nil {
		os.Exit(1)
	}
}
