package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/cleanroom/room/demo"
	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/internal/builtin"
)

func init() { commands = append(commands, newDemoCmd) }

// demoTransactions is the number of transactions at --scale 1.
const demoTransactions = 20000

func newDemoCmd() *cobra.Command {
	var asJSON, quiet bool
	var scale, tx int
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the two-bank fraud-detection clean room end to end (simulated platform)",
		Long: `demo generates two banks' transaction tables with planted fraud, starts an
attestation service and key broker in process, has both banks encrypt and
publish their data, store their keys with release policies and sign the
contract, runs the clean-room enclave, and shows what each bank learned,
precision and recall against the planted truth, stage times, and the
negative checks (what must be refused, attempted). Progress goes to stderr;
the report to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scale < 1 {
				return usageError("--scale must be at least 1")
			}
			n := demoTransactions * scale
			if tx > 0 {
				n = tx
			}
			keep := dir != ""
			if !keep {
				d, err := os.MkdirTemp("", "confide-demo-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			var log io.Writer = cmd.ErrOrStderr()
			if quiet {
				log = nil
			}
			rep, err := demo.Run(cmd.Context(), demo.Config{Dir: dir, Transactions: n, Sign: builtin.SignSelf, Log: log})
			if rep == nil {
				var se *host.StartError
				if errors.As(err, &se) && se.Code == "harden" {
					return withCode(exitFailure, err, "the confide binary doubles as the enclave, which must be cgo-free: CGO_ENABLED=0 go run ./cmd/confide demo")
				}
				return err
			}
			if !keep {
				rep.Dir = ""
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if e := enc.Encode(rep); e != nil {
					return e
				}
			} else {
				printDemo(out, rep)
			}
			if errors.Is(err, demo.ErrNotRefused) {
				return withCode(exitPolicy, err, "a check that must be refused got through")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.IntVar(&scale, "scale", 1, fmt.Sprintf("data size: %d transactions times N", demoTransactions))
	f.IntVar(&tx, "transactions", 0, "exact number of transactions (overrides --scale)")
	f.StringVar(&dir, "dir", "", "state directory to create and keep (default: a temporary one)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// printDemo prints the report for people.
func printDemo(w io.Writer, r *demo.Report) {
	fmt.Fprintf(w, "\nenclave %s… signer %s… product %#x svn %d simulated=%v\n",
		r.Enclave.UniqueID[:12], r.Enclave.SignerID[:12], r.Enclave.ProductID, r.Enclave.SecurityVersion, r.Enclave.Simulated)
	fmt.Fprintf(w, "%d transactions analysed (%s)\n\n", r.Transactions, joinCounts(r.Rows, " rows"))
	for _, name := range sortedNames(r.Banks) {
		b := r.Banks[name]
		fmt.Fprintf(w, "%s learned: %s; %d findings about the other bank withheld\n", name, joinCounts(b.Findings, ""), b.Withheld)
		for _, k := range sortedNames(b.Examples) {
			fmt.Fprintf(w, "    %-9s %s\n", k, strings.Join(b.Examples[k], ", "))
		}
	}
	fmt.Fprintf(w, "\nagainst the planted truth (both banks' findings pooled):\n")
	for _, m := range r.Kinds {
		fmt.Fprintf(w, "    %-9s precision %.3f  recall %.3f  (tp %d, fp %d, fn %d)\n", m.Kind, m.Precision, m.Recall, m.TruePositives, m.FalsePositives, m.FalseNegatives)
	}
	fmt.Fprintf(w, "    all       precision %.3f  recall %.3f\n\n", r.Precision, r.Recall)
	if t := r.Training; t != nil {
		fmt.Fprintf(w, "fraud classifier (second contract; only the model and metrics left the enclave):\n")
		fmt.Fprintf(w, "    pooled    AUC %.3f  precision %.3f  recall %.3f  (%d held-out transactions)\n", t.Pooled.AUC, t.Pooled.Precision, t.Pooled.Recall, t.Pooled.Examples)
		for _, b := range sortedNames(t.Alone) {
			m := t.Alone[b]
			fmt.Fprintf(w, "    %-9s AUC %.3f  precision %.3f  recall %.3f  (trained alone)\n", b, m.AUC, m.Precision, m.Recall)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "stages:\n")
	for _, s := range r.Stages {
		fmt.Fprintf(w, "    %-28s %8.3fs\n", s.Name, s.Seconds)
	}
	fmt.Fprintf(w, "    %-28s %8.3fs\n", "total", r.Seconds)
	if t := r.Throughput; t.Ratio > 0 {
		fmt.Fprintf(w, "\nthroughput: enclave %.0f tx/s, plaintext %.0f tx/s in the same process: %.2fx the plaintext time\n",
			t.EnclaveTxPerSec, t.PlaintextTxPerSec, t.Ratio)
		fmt.Fprintf(w, "            (%.3fs of it starting the enclave; %.2fx without that fixed cost)\n", t.LoadSeconds, t.RatioAfterLoad)
	}
	if len(r.NegativeChecks) > 0 {
		fmt.Fprintf(w, "\nnegative checks:\n")
		for _, c := range r.Checks {
			fmt.Fprintf(w, "    %-22s %s\n", c.Name, r.NegativeChecks[c.Name])
		}
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "\nstate kept in %s\n", r.Dir)
	}
}

func joinCounts[V int | float64](m map[string]V, suffix string) string {
	var parts []string
	for _, k := range sortedNames(m) {
		parts = append(parts, fmt.Sprintf("%v %s%s", m[k], k, suffix))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func sortedNames[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
