package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/internal/benchboundary"
)

func init() { commands = append(commands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure confide's performance",
	}
	c.AddCommand(newBenchBoundaryCmd(), newBenchPeerCmd())
	return c
}

func newBenchBoundaryCmd() *cobra.Command {
	var (
		asJSON   bool
		echo     bool
		duration time.Duration
		maxCalls int
		payloads []int
		callers  []int
		kinds    []string
		simDir   string
	)
	c := &cobra.Command{
		Use:   "boundary",
		Short: "Measure round trips across the host/enclave boundary",
		Long: `boundary measures the round-trip time (p50, p99) and call rate of a plain
function call, a raw socket-pair request/response with a second process,
regular and switchless ecalls, and regular and switchless ocalls, for each
payload size and number of concurrent callers. The enclave is this binary,
signed on the fly as the built-in bench enclave with a fresh key.

By default the payload goes in only and the callee returns its length (an
[in] buffer); --echo sends it back too. Each row runs for at most --duration
(after a short warm-up) and --max-calls calls.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := benchboundary.Options{
				Duration: duration,
				MaxCalls: maxCalls,
				Payloads: payloads,
				Callers:  callers,
				Echo:     echo,
				SimDir:   simDir,
				Peer:     benchPeerCommand,
			}
			for _, k := range kinds {
				kind, err := benchboundary.ParseKind(k)
				if err != nil {
					return usageError("--kinds: %v", err)
				}
				opts.Kinds = append(opts.Kinds, kind)
			}
			rep, err := benchboundary.Run(cmd.Context(), opts)
			if errors.Is(err, benchboundary.ErrOptions) {
				return usageError("%v", err)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteText(cmd.OutOrStdout())
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&echo, "echo", false, "send the payload back (in and out) instead of its length")
	f.DurationVar(&duration, "duration", benchboundary.DefaultDuration, "measurement time of each row")
	f.IntVar(&maxCalls, "max-calls", benchboundary.DefaultMaxCalls, "maximum number of calls measured in each row")
	f.IntSliceVar(&payloads, "payloads", benchboundary.DefaultPayloads, "payload sizes in bytes")
	f.IntSliceVar(&callers, "callers", benchboundary.DefaultCallers, "numbers of concurrent callers")
	f.StringSliceVar(&kinds, "kinds", nil, "kinds of call to measure: func, socketpair, ecall, ecall-switchless, ocall, ocall-switchless (default all)")
	f.StringVar(&simDir, "sim-dir", "", "simulated platform state directory for the bench enclave (default: a temporary directory)")
	return c
}

// benchPeerCommand re-executes this binary as the socket-pair peer.
func benchPeerCommand(sockets int) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{"confide", "bench", "peer", "--sockets", strconv.Itoa(sockets)}
	cmd.Stderr = os.Stderr
	return cmd
}

// newBenchPeerCmd is the hidden socket-pair peer of "bench boundary": it
// echoes on the sockets it inherited as descriptors 3 and up.
func newBenchPeerCmd() *cobra.Command {
	var sockets int
	c := &cobra.Command{
		Use:    "peer",
		Short:  "Serve the socket-pair peer of 'bench boundary' on inherited descriptors",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sockets < 1 || sockets > benchboundary.MaxCallers {
				return usageError("--sockets must be in 1..%d", benchboundary.MaxCallers)
			}
			files := make([]*os.File, sockets)
			for i := range files {
				files[i] = os.NewFile(uintptr(3+i), fmt.Sprintf("peer%d", i))
			}
			return benchboundary.ServePeer(files)
		},
	}
	c.Flags().IntVar(&sockets, "sockets", 1, "number of inherited sockets, from descriptor 3 up")
	return c
}
