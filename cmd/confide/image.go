package main

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/image"
)

func init() {
	commands = append(commands, newKeygenCmd, newSignCmd, newDigestCmd, newDumpCmd)
}

func newKeygenCmd() *cobra.Command {
	var out, typ, pubOut string
	var force bool
	c := &cobra.Command{
		Use:   "keygen --out key.pem [--type rsa3072|p256|p384]",
		Short: "Make an enclave signing key (PKCS#8 PEM, mode 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("keygen: --out is required")
			}
			kt, err := image.ParseKeyType(typ)
			if err != nil {
				return usageError("keygen: --type %q: want rsa3072, p256 or p384", typ)
			}
			key, err := image.GenerateKey(kt)
			if err != nil {
				return err
			}
			p, err := image.MarshalPrivateKeyPEM(key)
			if err != nil {
				return err
			}
			defer clear(p)
			if err := writeNew(out, p, 0o600, force); err != nil {
				return err
			}
			if pubOut != "" {
				pp, err := image.MarshalPublicKeyPEM(key.Public())
				if err != nil {
					return err
				}
				if err := writeNew(pubOut, pp, 0o644, force); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the private key to this `file`")
	c.Flags().StringVar(&typ, "type", "rsa3072", "key `type`: rsa3072, p256 or p384")
	c.Flags().StringVar(&pubOut, "public-out", "", "also write the public key (PEM) to this `file`")
	c.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return c
}

// writeNew writes data to path with mode perm, refusing to overwrite an
// existing file unless force.
func writeNew(path string, data []byte, perm os.FileMode, force bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, perm)
	if errors.Is(err, fs.ErrExist) {
		return withCode(exitFailure, err, "use --force to overwrite it")
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readConfig reads an enclave config file.
func readConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, err := image.ParseConfig(f)
	if err != nil {
		return image.Config{}, withCode(exitFailure, fmt.Errorf("%s: %w", path, err), "")
	}
	return cfg, nil
}

func newSignCmd() *cobra.Command {
	var enclave, config, keyPath, sigPath, pubPath, out string
	c := &cobra.Command{
		Use:   "sign --enclave BIN --config enclave.conf (--key key.pem | --signature SIG --public-key PUB.pem) --out BIN.signed",
		Short: "Sign an enclave image, or attach an external signature",
		Long: `Sign appends a signed trailer (config, public key, signature) to the enclave
binary; a trailer the binary already carries is replaced. With --key it signs
directly. With --signature and --public-key it attaches a signature made
elsewhere over the output of 'confide digest' (for example by
'openssl pkeyutl -sign -inkey key.pem -pkeyopt digest:sha256 -in digest.bin -out sig.bin'),
after checking it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if enclave == "" || config == "" || out == "" {
				return usageError("sign: --enclave, --config and --out are required")
			}
			direct := keyPath != ""
			attach := sigPath != "" || pubPath != ""
			if direct == attach || (attach && (sigPath == "" || pubPath == "")) {
				return usageError("sign: give either --key, or both --signature and --public-key")
			}
			cfg, err := readConfig(config)
			if err != nil {
				return err
			}
			bin, err := os.ReadFile(enclave)
			if err != nil {
				return err
			}
			var signed []byte
			if direct {
				key, err := readPrivateKey(keyPath)
				if err != nil {
					return err
				}
				signed, err = image.Sign(bin, cfg, key)
				if err != nil {
					return imageError(err)
				}
			} else {
				pub, err := readPublicKey(pubPath)
				if err != nil {
					return err
				}
				sig, err := os.ReadFile(sigPath)
				if err != nil {
					return err
				}
				signed, err = image.Attach(bin, cfg, pub, sig)
				if err != nil {
					return imageError(err)
				}
			}
			return os.WriteFile(out, signed, 0o755)
		},
	}
	f := c.Flags()
	f.StringVar(&enclave, "enclave", "", "enclave binary `file`")
	f.StringVar(&config, "config", "", "enclave config `file` (Key=Value lines)")
	f.StringVar(&keyPath, "key", "", "private key PEM `file` (PKCS#1, PKCS#8 or SEC1)")
	f.StringVar(&sigPath, "signature", "", "external signature `file` over the digest")
	f.StringVar(&pubPath, "public-key", "", "public key PEM `file` of the external signature")
	f.StringVar(&out, "out", "", "write the signed image to this `file`")
	return c
}

func readPrivateKey(path string) (crypto.Signer, error) {
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(p)
	key, err := image.ParsePrivateKeyPEM(p)
	if err != nil {
		return nil, withCode(exitFailure, fmt.Errorf("%s: %w", path, err), "keys are RSA-3072, ECDSA P-256 or P-384 in PEM")
	}
	return key, nil
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := image.ParsePublicKeyPEM(p)
	if err != nil {
		return nil, withCode(exitFailure, fmt.Errorf("%s: %w", path, err), "keys are RSA-3072, ECDSA P-256 or P-384 in PEM")
	}
	return pub, nil
}

// imageError maps image errors to exit codes: signature and image
// verification failures exit with exitVerify.
func imageError(err error) error {
	switch {
	case errors.Is(err, image.ErrSignature):
		return withCode(exitVerify, err, "the signature must be over 'confide digest' of the same binary and config, by the given key")
	case errors.Is(err, image.ErrUnsigned):
		return withCode(exitVerify, err, "sign it with 'confide sign'")
	case errors.Is(err, image.ErrMalformed):
		return withCode(exitVerify, err, "")
	case errors.Is(err, image.ErrKeyType):
		return withCode(exitFailure, err, "keys are RSA-3072, ECDSA P-256 or P-384")
	}
	return err
}

func newDigestCmd() *cobra.Command {
	var enclave, config, out string
	c := &cobra.Command{
		Use:   "digest --enclave BIN --config enclave.conf [--out digest.bin]",
		Short: "Print the digest to sign for two-step (external or HSM) signing",
		Long: `Digest computes the 32-byte digest a signer signs for this binary and config:
raw bytes to --out, or hex on stdout. Sign it as a SHA-256 hash (RSA: PKCS#1 v1.5,
ECDSA: ASN.1), then attach it with 'confide sign --signature --public-key'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if enclave == "" || config == "" {
				return usageError("digest: --enclave and --config are required")
			}
			cfg, err := readConfig(config)
			if err != nil {
				return err
			}
			bin, err := os.ReadFile(enclave)
			if err != nil {
				return err
			}
			d, err := image.Digest(bin, cfg)
			if err != nil {
				return imageError(err)
			}
			if out != "" {
				return os.WriteFile(out, d[:], 0o644)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(d[:]))
			return err
		},
	}
	c.Flags().StringVar(&enclave, "enclave", "", "enclave binary `file`")
	c.Flags().StringVar(&config, "config", "", "enclave config `file`")
	c.Flags().StringVar(&out, "out", "", "write the raw 32-byte digest to this `file`")
	return c
}

func newDumpCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "dump [--json] BIN.signed",
		Short: "Verify a signed enclave image and print its identity and config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			img, err := image.Open(data)
			if err != nil {
				return imageError(fmt.Errorf("%s: %w", args[0], err))
			}
			d := img.Dump()
			if !asJSON {
				return d.WriteText(cmd.OutOrStdout())
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			if err := enc.Encode(d); err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
