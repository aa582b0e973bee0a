package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/internal/hashchain"
	"github.com/confide-dev/confide/service"
)

func init() { commands = append(commands, newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect the attestation service's audit log"}
	var data, db string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain and report the first break",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (data == "") == (db == "") {
				return usageError("give exactly one of --data DIR and --db URL")
			}
			rep, err := service.VerifyAudit(cmd.Context(), data, db)
			var be *hashchain.BreakError
			if errors.As(err, &be) {
				if asJSON {
					json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"ok": false, "records": rep.Records, "break_seq": be.Seq, "reason": be.Reason})
				}
				return withCode(exitVerify, err, "the audit log was altered at or after this record")
			}
			if err != nil {
				return withCode(exitFailure, err, "")
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"ok": true, "records": rep.Records})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log ok: %d records\n", rep.Records)
			return nil
		},
	}
	verify.Flags().StringVar(&data, "data", "", "service state directory (SQLite)")
	verify.Flags().StringVar(&db, "db", "", "PostgreSQL URL")
	verify.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(verify)
	return cmd
}
