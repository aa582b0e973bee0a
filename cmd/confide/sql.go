package main

import (
	"crypto"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	aesqldriver "github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/keystore"
	"github.com/confide-dev/confide/aesql/server"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee/sim"
)

func init() { commands = append(commands, newSQLCmd) }

func newSQLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sql",
		Short: "The confidential SQL server (Always Encrypted with an enclave)",
	}
	cmd.AddCommand(newSQLServeCmd(), newSQLKeysCmd(), newSQLQueryCmd())
	return cmd
}

// listenAddr splits "unix:PATH" from a TCP address.
func listenAddr(a string) (network, address string) {
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		return "unix", p
	}
	return "tcp", a
}

func newSQLKeysCmd() *cobra.Command {
	var store, cmkName, cmkPath, cekName string
	var enclaveOK bool
	cmd := &cobra.Command{
		Use:   "keys --store DIR --cmk NAME --cek NAME [--enclave]",
		Short: "Make a column master key and a column encryption key; print their DDL",
		Long: `Make a column master key (an RSA-3072 key file in the CONFIDE_KEY_FILE store
DIR, unless --cmk-path already names one) and a fresh column encryption key
wrapped under it, and print the CREATE COLUMN MASTER KEY and CREATE COLUMN
ENCRYPTION KEY statements that declare them. --enclave allows enclave
computations and signs the CMK metadata.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" || cmkName == "" || cekName == "" {
				return usageError("--store, --cmk and --cek are required")
			}
			if cmkPath == "" {
				cmkPath = strings.ToLower(cmkName) + ".pem"
			}
			ctx := cmd.Context()
			full := filepath.Join(store, filepath.FromSlash(cmkPath))
			if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
				pemBytes, err := keystore.GenerateKeyPEM(3072)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(full, pemBytes, 0o600); err != nil {
					return err
				}
			}
			ks := keystore.NewFileStore(store)
			wrapped, err := keystore.NewCEK(ctx, ks, cmkPath, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			enclaveClause := ""
			if enclaveOK {
				sig, err := ks.SignCMKMetadata(ctx, cmkPath, true)
				if err != nil {
					return err
				}
				enclaveClause = fmt.Sprintf(", ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%X)", sig)
			}
			fmt.Fprintf(out, "CREATE COLUMN MASTER KEY %s WITH (KEY_STORE_PROVIDER_NAME = '%s', KEY_PATH = '%s'%s);\n",
				cmkName, keystore.FileStoreProvider, cmkPath, enclaveClause)
			fmt.Fprintf(out, "CREATE COLUMN ENCRYPTION KEY %s WITH VALUES (COLUMN_MASTER_KEY = %s, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%X);\n",
				cekName, cmkName, wrapped)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&store, "store", "", "CONFIDE_KEY_FILE key store directory")
	f.StringVar(&cmkName, "cmk", "", "column master key name")
	f.StringVar(&cmkPath, "cmk-path", "", "key path of the CMK in the store (default: lowercase NAME.pem)")
	f.StringVar(&cekName, "cek", "", "column encryption key name")
	f.BoolVar(&enclaveOK, "enclave", false, "allow enclave computations (signed CMK metadata)")
	return cmd
}

func newSQLQueryCmd() *cobra.Command {
	var dsn string
	cmd := &cobra.Command{
		Use:   "query --dsn DSN QUERY [ARG...]",
		Short: "Run one statement with the column-encryption driver; print rows as TSV",
		Long: `Run one statement through the confide-aesql database/sql driver (DSN as in
aesql/driver: column_encryption=enabled&key_store=DIR&attestation=sim…) with
parameters $1, $2, … from ARGs, and print the result as tab-separated values
with a header line. An ARG is int:N, float:X, date:YYYY-MM-DD, hex:BYTES,
null, or text (str:TEXT, or anything else as it is).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dsn == "" {
				return usageError("--dsn is required")
			}
			var params []any
			for _, a := range args[1:] {
				v, err := sqlArg(a)
				if err != nil {
					return usageError("argument %q: %v", a, err)
				}
				params = append(params, v)
			}
			db, err := sql.Open(aesqldriver.Name, dsn)
			if err != nil {
				return usageError("--dsn: %v", err)
			}
			defer db.Close()
			rows, err := db.QueryContext(cmd.Context(), args[0], params...)
			if err != nil {
				if errors.Is(err, aesqldriver.ErrAttestation) {
					return withCode(exitVerify, err, "")
				}
				return err
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(cols) > 0 {
				fmt.Fprintln(out, strings.Join(cols, "\t"))
			}
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				cells := make([]string, len(vals))
				for i, v := range vals {
					switch x := v.(type) {
					case nil:
						cells[i] = "NULL"
					case []byte:
						cells[i] = `\x` + hex.EncodeToString(x)
					case time.Time:
						cells[i] = x.Format(time.RFC3339Nano)
					default:
						cells[i] = fmt.Sprint(x)
					}
				}
				fmt.Fprintln(out, strings.Join(cells, "\t"))
			}
			return rows.Err()
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "", "driver DSN (postgres://…)")
	return cmd
}

func sqlArg(a string) (any, error) {
	kind, v, ok := strings.Cut(a, ":")
	if !ok {
		if a == "null" {
			return nil, nil
		}
		return a, nil
	}
	switch kind {
	case "int":
		return strconv.ParseInt(v, 10, 64)
	case "float":
		return strconv.ParseFloat(v, 64)
	case "date":
		return time.Parse("2006-01-02", v)
	case "hex":
		return hex.DecodeString(v)
	case "str":
		return v, nil
	}
	return a, nil
}

func newSQLServeCmd() *cobra.Command {
	var listen, db, dbURL, keyFile, platform, simDir string
	var noEnclave, debug bool
	var svn uint16
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR [--db FILE | --database-url postgres://…]",
		Short: "Serve SQL over the PostgreSQL protocol with encrypted columns",
		Long: `Serve SQL over the PostgreSQL wire protocol (psql and ordinary drivers
connect; they see ciphertext in encrypted columns), storing data in SQLite
(--db, default in memory) or PostgreSQL (--database-url).
CREATE COLUMN MASTER KEY, CREATE COLUMN ENCRYPTION KEY and columns
ENCRYPTED WITH (…) are accepted as in SQL Server. Queries on randomized
columns run in the server's enclave, a signed copy of this binary started as
the built-in SQL enclave; the enclave's signer ID and evidence platform are
printed on stderr for clients' attestation policies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" {
				return usageError("--listen is required")
			}
			if dbURL != "" && db != "" {
				return usageError("--db and --database-url are exclusive")
			}
			ctx := cmd.Context()
			opts := server.Options{Path: db, DatabaseURL: dbURL}
			stderr := cmd.ErrOrStderr()
			if !noEnclave {
				var key crypto.Signer
				if keyFile != "" {
					b, err := os.ReadFile(keyFile)
					if err != nil {
						return usageError("%v", err)
					}
					k, err := image.ParsePrivateKeyPEM(b)
					if err != nil {
						return usageError("--enclave-key %s: %v", keyFile, err)
					}
					key = k
				} else {
					k, err := image.GenerateKey(image.KeyECDSAP256)
					if err != nil {
						return err
					}
					key = k
				}
				if simDir == "" {
					simDir = defaultSimDir()
				}
				if platform == "" || platform == "sim" {
					if _, err := sim.Init(simDir); err != nil {
						return err
					}
				}
				e, err := server.StartEnclave(ctx, server.EnclaveOptions{Key: key, Debug: debug, SecurityVersion: svn, Platform: platform, SimDir: simDir})
				if err != nil {
					return fmt.Errorf("starting the enclave: %w", err)
				}
				defer e.Close()
				id := e.Identity()
				name, simulated := e.Platform()
				fmt.Fprintf(stderr, "confide: enclave signer_id=%s product_id=%d security_version=%d platform=%s simulated=%v\n",
					hex.EncodeToString(id.SignerID[:]), id.ProductID, id.SecurityVersion, name, simulated)
				if simulated {
					fmt.Fprintf(stderr, "confide: simulated evidence: clients need attestation=sim&sim_dir=%s\n", simDir)
				}
				opts.Enclave = e
			}
			s, err := server.New(ctx, opts)
			if err != nil {
				return err
			}
			l, err := net.Listen(listenAddr(listen))
			if err != nil {
				s.Close()
				return withCode(exitNetwork, err, "")
			}
			fmt.Fprintf(stderr, "confide: listening on %s\n", l.Addr())
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case <-sig:
			case err = <-done:
			case <-ctx.Done():
			}
			l.Close()
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "address to listen on (host:port, or unix:PATH)")
	f.StringVar(&db, "db", "", "SQLite database file (default: in memory)")
	f.StringVar(&dbURL, "database-url", "", "store the data in PostgreSQL (postgres://…) instead of SQLite")
	f.StringVar(&keyFile, "enclave-key", "", "PEM key that signs the enclave (default: a fresh key each start)")
	f.StringVar(&platform, "platform", "", "enclave platform (sim); default: detected")
	f.StringVar(&simDir, "sim-dir", "", "simulated platform state directory")
	f.BoolVar(&noEnclave, "no-enclave", false, "serve without an enclave (randomized-column predicates fail)")
	f.BoolVar(&debug, "debug-enclave", false, "sign the enclave as debug (attestation policies refuse it by default)")
	f.Uint16Var(&svn, "security-version", 1, "enclave security version")
	return cmd
}
