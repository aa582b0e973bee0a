package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/client"
)

func init() { commands = append(commands, newAttestCmd) }

func newAttestCmd() *cobra.Command {
	var svc, evidence, runtime, kind, caFile string
	var useNonce, asJSON bool
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Send evidence to an attestation service and print the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if svc == "" || evidence == "" {
				return usageError("--service URL and --evidence FILE are required")
			}
			ev, err := os.ReadFile(evidence)
			if err != nil {
				return usageError("%v", err)
			}
			var rd []byte
			if runtime != "" {
				if rd, err = os.ReadFile(runtime); err != nil {
					return usageError("%v", err)
				}
			}
			hc := &http.Client{Timeout: 30 * time.Second}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return usageError("%v", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return usageError("--ca %s holds no PEM certificate", caFile)
				}
				hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			}
			c, err := client.New(svc, &client.Options{HTTPClient: hc})
			if err != nil {
				return usageError("%v", err)
			}
			nonce := ""
			if useNonce {
				if nonce, err = c.Nonce(cmd.Context()); err != nil {
					return clientErr(err)
				}
			}
			tok, err := c.Attest(cmd.Context(), kind, ev, rd, nonce)
			if err != nil {
				return clientErr(err)
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"token": tok})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&svc, "service", "", "attestation service base URL")
	f.StringVar(&evidence, "evidence", "", "file holding the evidence (quote or report), raw bytes")
	f.StringVar(&runtime, "runtime-data", "", "file holding runtime data bound into the report data")
	f.StringVar(&kind, "type", "SgxEnclave", "attestation type: SgxEnclave, OpenEnclave or TdxVm")
	f.StringVar(&caFile, "ca", "", "PEM certificate to trust for the service's TLS")
	f.BoolVar(&useNonce, "nonce", false, "fetch a single-use nonce from the service and bind it")
	f.BoolVar(&asJSON, "json", false, "print {\"token\": ...} as JSON")
	return cmd
}

// clientErr maps client errors to exit codes.
func clientErr(err error) error {
	var pe *client.ProblemError
	switch {
	case errors.Is(err, client.ErrNetwork):
		return withCode(exitNetwork, err, "is the service running and reachable?")
	case errors.As(err, &pe) && pe.Status == http.StatusForbidden:
		return withCode(exitPolicy, err, "")
	case errors.As(err, &pe) && pe.Status < 500:
		return withCode(exitVerify, err, "")
	}
	return withCode(exitFailure, err, "")
}
