package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/aesql"
)

func init() { commands = append(commands, newAESQLCmd) }

// maxCellInput bounds what "aesql cell" reads (64 MiB); the debugging aid
// is not meant for varbinary(max) columns of gigabytes.
const maxCellInput = 64 << 20

func newAESQLCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "aesql",
		Short: "Always Encrypted tools",
	}
	cell := &cobra.Command{
		Use:   "cell",
		Short: "Encrypt or decrypt single Always Encrypted cells (a debugging aid)",
	}
	cell.AddCommand(newAESQLCellCmd(true), newAESQLCellCmd(false))
	c.AddCommand(cell)
	return c
}

func newAESQLCellCmd(encrypt bool) *cobra.Command {
	var cekHex string
	var det bool
	c := &cobra.Command{
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cek, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(cekHex, "0x"), "0X"))
			if err != nil || len(cek) != aesql.KeySize {
				return usageError("--cek must be %d bytes in hex", aesql.KeySize)
			}
			key, err := aesql.NewKey(cek)
			clear(cek)
			if err != nil {
				return usageError("%v", err)
			}
			defer key.Close()
			in, err := readCellInput(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			var out []byte
			if encrypt {
				out, err = key.Encrypt(in, det)
			} else {
				out, err = key.Decrypt(in)
				if errors.Is(err, aesql.ErrMAC) || errors.Is(err, aesql.ErrMalformed) {
					return withCode(exitVerify, err, "check that --cek is the column encryption key of this cell")
				}
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(out))
			return err
		},
	}
	c.Flags().StringVar(&cekHex, "cek", "", "the 32-byte column encryption key, in hex (required)")
	c.MarkFlagRequired("cek")
	if encrypt {
		c.Use = "encrypt --cek HEX [--deterministic] FILE"
		c.Short = "Encrypt the normalised plaintext in FILE ('-' for stdin) and print the cell in hex"
		c.Flags().BoolVar(&det, "deterministic", false, "deterministic encryption (IV derived from the plaintext)")
	} else {
		c.Use = "decrypt --cek HEX FILE"
		c.Short = "Decrypt the cell in FILE ('-' for stdin) and print the plaintext in hex"
	}
	return c
}

// readCellInput reads the file name, or stdin for "-", up to maxCellInput.
func readCellInput(stdin io.Reader, name string) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCellInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCellInput {
		return nil, fmt.Errorf("aesql: input larger than %d bytes", maxCellInput)
	}
	return b, nil
}
