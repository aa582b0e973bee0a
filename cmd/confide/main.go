// Command confide builds, signs, runs and attests enclaves, serves the
// attestation service and key broker, and runs the confidential workloads.
//
// Run "confide help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes. Distinct codes let scripts tell a usage mistake from a
// verification failure, a policy refusal and a network problem.
const (
	exitOK      = 0
	exitFailure = 1 // anything else
	exitUsage   = 2 // bad flags or arguments
	exitVerify  = 3 // evidence, signature or image did not verify
	exitPolicy  = 4 // verified, but the policy refused it
	exitNetwork = 5 // a service could not be reached
)

// exitError carries an exit code and an optional hint with an error.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so that confide exits with code and prints hint.
func withCode(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err, hint: hint}
}

// usageError reports a usage mistake (exit code 2).
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// commands lists the constructors of the top-level subcommands. Each
// command file appends to it from an init function.
var commands []func() *cobra.Command

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "confide",
		Short: "confide: enclaves, attestation, key release and confidential workloads",
		Long: `confide builds, signs, runs and attests enclaves (simulated SGX on any Linux;
Gramine's /dev/attestation and configfs-tsm where present), verifies SGX and TDX
DCAP evidence, runs an attestation service with a key broker, and runs
confidential workloads: Always Encrypted queries and clean rooms.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err, hint: "see '" + c.CommandPath() + " --help'"}
	})
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "confide: error: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.hint != "" {
			fmt.Fprintf(stderr, "confide: hint: %s\n", ee.hint)
		}
		return ee.code
	}
	// cobra reports unknown commands and argument-count mistakes as plain
	// errors before any RunE runs.
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}
