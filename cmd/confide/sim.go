package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

func init() { commands = append(commands, newSimCmd) }

// defaultSimDir is $XDG_STATE_HOME/confide/sim, or
// ~/.local/state/confide/sim when XDG_STATE_HOME is unset.
func defaultSimDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "confide", "sim")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "confide", "sim")
	}
	return filepath.Join(".confide", "sim")
}

func newSimCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "sim",
		Short: "Manage the simulated SGX platform (state, TCB status, local PCS, test quotes)",
		Long: `The simulated platform is a software SGX whose quotes have Intel's formats but
chain to a local simulated root CA. Its state lives in --dir (default
$XDG_STATE_HOME/confide/sim or ~/.local/state/confide/sim) and is created on
first use.`,
	}
	c.PersistentFlags().StringVar(&dir, "dir", "", "simulated platform state directory (default "+defaultSimDir()+")")
	getDir := func() string {
		if dir == "" {
			return defaultSimDir()
		}
		return dir
	}
	c.AddCommand(newSimInitCmd(getDir), newSimShowCmd(getDir), newSimTCBCmd(getDir), newSimRevokeCmd(getDir),
		newSimPCSCmd(getDir), newSimQuoteCmd(getDir))
	return c
}

// simSummary is what init and show print.
type simSummary struct {
	Dir             string           `json:"dir"`
	FMSPC           string           `json:"fmspc"`
	TCBStatus       attest.TCBStatus `json:"tcb_status"`
	PCKRevoked      bool             `json:"pck_revoked"`
	CPUSVN          string           `json:"cpusvn"`
	PCESVN          uint16           `json:"pcesvn"`
	RootFingerprint string           `json:"root_ca_sha256"`
	RootCAFile      string           `json:"root_ca_file"`
	IssuedAt        time.Time        `json:"collateral_issued"`
}

func summarize(s *sim.State) simSummary {
	f, c, fp := s.FMSPC(), s.CPUSVN(), s.RootFingerprint()
	return simSummary{
		Dir:             s.Dir(),
		FMSPC:           strings.ToUpper(hex.EncodeToString(f[:])),
		TCBStatus:       s.TCBStatus(),
		PCKRevoked:      s.PCKRevoked(),
		CPUSVN:          hex.EncodeToString(c[:]),
		PCESVN:          s.PCESVN(),
		RootFingerprint: hex.EncodeToString(fp[:]),
		RootCAFile:      filepath.Join(s.Dir(), sim.RootCAFile),
		IssuedAt:        s.IssuedAt(),
	}
}

func printSummary(cmd *cobra.Command, s *sim.State, asJSON bool) error {
	sum := summarize(s)
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(out, "dir:              %s\n", sum.Dir)
	fmt.Fprintf(out, "fmspc:            %s\n", sum.FMSPC)
	fmt.Fprintf(out, "tcb status:       %s\n", sum.TCBStatus)
	fmt.Fprintf(out, "pck revoked:      %v\n", sum.PCKRevoked)
	fmt.Fprintf(out, "cpusvn, pcesvn:   %s, %d\n", sum.CPUSVN, sum.PCESVN)
	fmt.Fprintf(out, "root ca sha256:   %s\n", sum.RootFingerprint)
	fmt.Fprintf(out, "root ca file:     %s\n", sum.RootCAFile)
	fmt.Fprintf(out, "collateral:       issued %s\n", sum.IssuedAt.Format(time.RFC3339))
	return nil
}

func loadSim(dir string) (*sim.State, error) {
	s, err := sim.LoadState(dir)
	if errors.Is(err, sim.ErrNoState) {
		return nil, withCode(exitFailure, err, "run 'confide sim init' first (or pass --dir)")
	}
	return s, err
}

func newSimInitCmd(dir func() string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create the simulated platform state (no-op if it exists) and show it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sim.Init(dir())
			if err != nil {
				return err
			}
			return printSummary(cmd, s, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newSimShowCmd(dir func() string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Show the simulated platform: FMSPC, TCB status, root CA fingerprint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSim(dir())
			if err != nil {
				return err
			}
			return printSummary(cmd, s, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newSimTCBCmd(dir func() string) *cobra.Command {
	var status string
	var names []string
	for _, s := range sim.Statuses() {
		names = append(names, string(s))
	}
	c := &cobra.Command{
		Use:   "tcb --status STATUS",
		Short: "Move the simulated platform to a TCB status (re-issues the TCB info)",
		Long:  "Move the simulated platform to a TCB status. STATUS is one of: " + strings.Join(names, ", ") + ".",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status == "" {
				return usageError("--status is required (one of %s)", strings.Join(names, ", "))
			}
			s, err := loadSim(dir())
			if err != nil {
				return err
			}
			if err := s.SetTCBStatus(attest.TCBStatus(status)); err != nil {
				if errors.Is(err, sim.ErrStatus) {
					return usageError("--status %q: want one of %s", status, strings.Join(names, ", "))
				}
				return err
			}
			return printSummary(cmd, s, false)
		},
	}
	c.Flags().StringVar(&status, "status", "", "TCB status: "+strings.Join(names, ", "))
	return c
}

func newSimRevokeCmd(dir func() string) *cobra.Command {
	var undo bool
	c := &cobra.Command{
		Use:   "revoke-pck",
		Short: "Put the simulated PCK certificate on the PCK CRL (--undo takes it off)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSim(dir())
			if err != nil {
				return err
			}
			if err := s.RevokePCK(!undo); err != nil {
				return err
			}
			return printSummary(cmd, s, false)
		},
	}
	c.Flags().BoolVar(&undo, "undo", false, "take the PCK certificate off the CRL")
	return c
}

func newSimPCSCmd(dir func() string) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "pcs --listen ADDR",
		Short: "Serve the simulated collateral in the Intel PCS v4 API shape",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSim(dir())
			if err != nil {
				return err
			}
			// Collateral is valid 30 days; re-issue it when it is older
			// than a day so that a running PCS serves fresh collateral.
			if time.Since(s.IssuedAt()) > 24*time.Hour {
				if err := s.Refresh(); err != nil {
					return err
				}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withCode(exitNetwork, err, "choose another --listen address")
			}
			srv := &http.Server{
				Handler:           sim.PCSHandler(s),
				ReadHeaderTimeout: 5 * time.Second,
				ReadTimeout:       10 * time.Second,
				WriteTimeout:      10 * time.Second,
				IdleTimeout:       60 * time.Second,
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "confide: serving simulated PCS v4 collateral on http://%s/sgx/certification/v4/\n", ln.Addr())
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return withCode(exitNetwork, err, "")
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on")
	return c
}

func newSimQuoteCmd(dir func() string) *cobra.Command {
	var enclave, reportData, out string
	c := &cobra.Command{
		Use:   "quote --enclave SIGNED_IMAGE --report-data HEX --out FILE",
		Short: "Write the quote the given enclave would produce on the simulated platform (testing aid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if enclave == "" || out == "" {
				return usageError("--enclave and --out are required")
			}
			rdBytes, err := hex.DecodeString(strings.TrimPrefix(reportData, "0x"))
			if err != nil || len(rdBytes) > tee.ReportDataSize {
				return usageError("--report-data: want at most %d bytes of hex", tee.ReportDataSize)
			}
			var rd [tee.ReportDataSize]byte
			copy(rd[:], rdBytes)
			data, err := os.ReadFile(enclave)
			if err != nil {
				return err
			}
			img, err := image.Open(data)
			if err != nil {
				return withCode(exitVerify, err, "--enclave must be an image signed with 'confide sign'")
			}
			p, err := sim.Open(dir(), img.Identity, sim.Options{})
			if err != nil {
				return err
			}
			q, err := p.Quote(rd)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, q, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "confide: note: %s is a SIMULATED quote made outside any enclave, a testing aid; it chains to the simulated root CA in %s\n", out, dir())
			return nil
		},
	}
	c.Flags().StringVar(&enclave, "enclave", "", "signed enclave image")
	c.Flags().StringVar(&reportData, "report-data", "", "report data, hex, at most 64 bytes (zero-padded)")
	c.Flags().StringVar(&out, "out", "", "file to write the quote to")
	return c
}
