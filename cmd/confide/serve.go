package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/attest/pcs"
	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/service"
)

func init() { commands = append(commands, newServeCmd) }

func newServeCmd() *cobra.Command {
	var (
		listen, data, db, certFile, keyFile, issuer string
		plainHTTP                                   bool
		vf                                          verifierFlags
		lifetime                                    time.Duration
		trusted                                     []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the attestation service and key broker",
		Long: `serve runs the attestation service (MAA-shaped REST API issuing JWTs) and the
key broker (Key Vault secure key release). State lives in --data (SQLite
database, master key, admin token, TLS certificate). The admin token for the
management endpoints is in DIR/admin.token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return usageError("--data DIR is required")
			}
			if plainHTTP {
				if err := service.CheckPlainHTTPAddr(listen); err != nil {
					return usageError("%v", err)
				}
			}
			if err := os.MkdirAll(data, 0o700); err != nil {
				return withCode(exitFailure, err, "")
			}
			scheme := "https"
			if plainHTTP {
				scheme = "http"
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withCode(exitNetwork, err, "")
			}
			if issuer == "" {
				issuer = scheme + "://" + ln.Addr().String()
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			vopts, err := vf.build(time.Now, pcs.IntelURL)
			if err != nil {
				ln.Close()
				return err
			}
			v := verifier.New(vopts)
			srv, err := service.New(cmd.Context(), service.Options{
				DataDir: data, DatabaseURL: db, Verifier: v, Issuer: issuer, AllowSimulated: vf.allowSim,
				TokenLifetime: lifetime, TrustedAuthorities: trusted, Logger: log,
			})
			if err != nil {
				ln.Close()
				return withCode(exitFailure, err, "")
			}
			defer srv.Close()
			hs := service.HTTPServer(listen, srv)
			if !plainHTTP {
				var cert tls.Certificate
				if certFile != "" || keyFile != "" {
					cert, err = tls.LoadX509KeyPair(certFile, keyFile)
				} else {
					host, _, _ := net.SplitHostPort(ln.Addr().String())
					cert, err = service.LoadOrCreateTLSCert(data, []string{host, "localhost"})
				}
				if err != nil {
					ln.Close()
					return withCode(exitFailure, err, "check --tls-cert and --tls-key")
				}
				hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", issuer)
			log.Info("serving", "issuer", issuer, "listen", ln.Addr().String(), "allow_sim", vf.allowSim)
			errc := make(chan error, 1)
			go func() {
				if plainHTTP {
					errc <- hs.Serve(ln)
				} else {
					errc <- hs.ServeTLS(ln, "", "")
				}
			}()
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return withCode(exitNetwork, err, "")
				}
			case <-cmd.Context().Done():
				log.Info("shutting down")
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				if err := hs.Shutdown(ctx); err != nil {
					return withCode(exitFailure, err, "")
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	f.StringVar(&data, "data", "", "state directory (SQLite database, master key, admin token)")
	f.StringVar(&db, "db", "", "PostgreSQL URL (postgres://...) instead of SQLite")
	f.BoolVar(&vf.allowSim, "allow-sim", false, "trust the simulated platform's root (--sim-dir) and let simulated evidence pass appraisal (development, demo)")
	f.BoolVar(&plainHTTP, "http", false, "serve plain HTTP (loopback addresses only)")
	f.DurationVar(&lifetime, "token-lifetime", 8*time.Hour, "lifetime of issued tokens")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); default: self-signed, kept in --data")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&issuer, "issuer", "", "external base URL used as token issuer (default: scheme://listen address)")
	f.StringSliceVar(&trusted, "trusted-authority", nil, "another attestation issuer whose tokens release policies may name (repeatable)")
	vf.register(cmd, " (default "+pcs.IntelURL+")")
	return cmd
}
