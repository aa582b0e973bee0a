// Command host is the untrusted half of the hello world sample: it loads
// the signed enclave, calls enclave_message() and answers
// host_acknowledgment().
//
//	host [--simulate] [--debug] ENCLAVE.signed
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/confide-dev/confide/examples/helloworld/functions"
	"github.com/confide-dev/confide/host"
)

// untrusted implements the EDL's untrusted functions.
type untrusted struct{}

// HostAcknowledgment is host_acknowledgment().
func (untrusted) HostAcknowledgment(ctx context.Context) error {
	fmt.Println("Call from enclave acknowledged.")
	return nil
}

func main() {
	simulate := flag.Bool("simulate", false, "force the simulation platform")
	debug := flag.Bool("debug", false, "allow a debug-signed or unsigned enclave")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [--simulate] [--debug] ENCLAVE.signed\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	opts := host.Options{
		Debug:  *debug,
		Ocalls: functions.Ocalls(untrusted{}),
	}
	if *simulate {
		opts.Platform = "sim"
	}
	ctx := context.Background()
	e, err := host.Load(ctx, flag.Arg(0), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "host: %v\n", err)
		os.Exit(1)
	}
	defer e.Close()
	if err := functions.NewClient(e).EnclaveMessage(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "host: enclave_message: %v\n", err)
		e.Close()
		os.Exit(1)
	}
	if err := e.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "host: %v\n", err)
		os.Exit(1)
	}
}
