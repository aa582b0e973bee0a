package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/governance"
	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/tee/sim"
)

func init() { commands = append(commands, newCleanroomCmd) }

func newCleanroomCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanroom",
		Short: "Clean-room roles: party keys, datasets, contracts, the enclave run, results",
		Long: `cleanroom runs a multi-party clean room step by step, one command per role:

  each party   cleanroom keygen; cleanroom dataset encrypt and publish;
               cleanroom contract sign; cleanroom dataset key (stores its data
               key in the key broker, released only to the contract's enclave)
  anyone       cleanroom contract init (draft), cleanroom contract verify
  operator     cleanroom run (the clean-room enclave; it sees ciphertext only)
  each party   cleanroom result open (verifies the enclave's evidence and
               signature, then decrypts its own result)

The service flags name the attestation service and key broker: --service URL
with --ca and --admin-token, or --service-data DIR to run it in this process
from a state directory (as "confide serve --data DIR" would).`,
	}
	ds := &cobra.Command{Use: "dataset", Short: "Encrypt, publish and release-protect a party's dataset"}
	ds.AddCommand(newDatasetEncryptCmd(), newDatasetPublishCmd(), newDatasetKeyCmd())
	ct := &cobra.Command{Use: "contract", Short: "Draft, sign and verify a clean-room contract"}
	ct.AddCommand(newContractInitCmd(), newContractSignCmd(), newContractVerifyCmd())
	res := &cobra.Command{Use: "result", Short: "Open a party's result"}
	res.AddCommand(newResultOpenCmd())
	cmd.AddCommand(newPartyKeygenCmd(), newSynthCmd(), ds, ct, newCleanroomRunCmd(), res)
	return cmd
}

// partyFile is the public description of a party that keygen writes and
// contract init reads.
type partyFile = contract.Party

func newPartyKeygenCmd() *cobra.Command {
	var name, prefix, dir string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --prefix BANKCODE [--dir DIR]",
		Short: "Make a party's contract-signing key and result key",
		Long: `keygen writes NAME.sign.pem (Ed25519, signs contracts), NAME.result.pem
(X25519, opens results) with mode 0600, and NAME.party.json, the party's public
entry for contract init.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || prefix == "" {
				return usageError("--name and --prefix are required")
			}
			_, sk, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			rk, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			enc, err := contract.EncodeSigningKey(sk.Public())
			if err != nil {
				return err
			}
			res, err := contract.NewResultKey(rk.PublicKey())
			if err != nil {
				return err
			}
			p := partyFile{Name: name, SigningKey: enc, ResultKey: res, AccountPrefix: prefix}
			pj, _ := json.MarshalIndent(p, "", "  ")
			for _, f := range []struct {
				path string
				data []byte
				mode os.FileMode
			}{
				{filepath.Join(dir, name+".sign.pem"), pkcs8PEM(sk), 0o600},
				{filepath.Join(dir, name+".result.pem"), pkcs8PEM(rk), 0o600},
				{filepath.Join(dir, name+".party.json"), append(pj, '\n'), 0o644},
			} {
				if err := writeNew(f.path, f.data, f.mode, false); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", filepath.Join(dir, name+".party.json"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "party name")
	f.StringVar(&prefix, "prefix", "", "the party's account prefix (bank code)")
	f.StringVar(&dir, "dir", ".", "directory for the key files")
	return cmd
}

func pkcs8PEM(k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// readPKCS8 reads a PKCS#8 PEM private key.
func readPKCS8(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, usageError("%s: want one PKCS#8 PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, usageError("%s: %v", path, err)
	}
	return k, nil
}

func newDatasetEncryptCmd() *cobra.Command {
	var id, in, out, keyFile string
	var chunk int
	cmd := &cobra.Command{
		Use:   "encrypt --id ID --in TABLE.csv --out FILE --key KEYFILE",
		Short: "Encrypt a table under the party's data key (created if KEYFILE is absent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || in == "" || out == "" || keyFile == "" {
				return usageError("--id, --in, --out and --key are required")
			}
			key, err := loadOrCreateDataKey(keyFile)
			if err != nil {
				return err
			}
			defer clear(key)
			r, err := os.Open(in)
			if err != nil {
				return usageError("%v", err)
			}
			defer r.Close()
			w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return withCode(exitFailure, err, "")
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			n, err := dataset.Encrypt(bw, bufio.NewReaderSize(r, 256<<10), key, dataset.Meta{ID: id, Schema: ledger.Schema(), ChunkSize: chunk})
			if err == nil {
				err = bw.Flush()
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return withCode(exitFailure, err, "")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "encrypted %d bytes of %s into %s\n", n, in, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "dataset ID (as in the contract)")
	f.StringVar(&in, "in", "", "plaintext table (ledger CSV)")
	f.StringVar(&out, "out", "", "encrypted dataset stream to write")
	f.StringVar(&keyFile, "key", "", "data key file (32 bytes, base64); created with mode 0600 if absent")
	f.IntVar(&chunk, "chunk-size", 0, "plaintext chunk size (default 64 KiB)")
	return cmd
}

// loadOrCreateDataKey reads a base64 data key file, or creates one.
func loadOrCreateDataKey(path string) ([]byte, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, dataset.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeNew(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600, false); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, usageError("%v", err)
	}
	return readDataKey(path)
}

func readDataKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != dataset.KeySize {
		return nil, usageError("%s: not a base64 32-byte data key", path)
	}
	return key, nil
}

func newDatasetPublishCmd() *cobra.Command {
	var store, in, name string
	cmd := &cobra.Command{
		Use:   "publish --store DIR --in FILE [--name NAME]",
		Short: "Publish an encrypted dataset to untrusted storage and print its digest",
		Long: `publish checks that FILE is a dataset stream, stores it in the storage
directory (atomically) and prints "NAME sha256:DIGEST"; the digest goes into
the contract. NAME defaults to the dataset ID in the stream's header.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" || in == "" {
				return usageError("--store and --in are required")
			}
			f, err := os.Open(in)
			if err != nil {
				return usageError("%v", err)
			}
			defer f.Close()
			h, err := dataset.ParseHeader(f)
			if err != nil {
				return withCode(exitVerify, err, "")
			}
			if name == "" {
				name = h.Meta.ID
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if err := os.MkdirAll(store, 0o700); err != nil {
				return err
			}
			d := sha256.New()
			if err := (dataset.DirStore{Dir: store}).Put(cmd.Context(), name, io.TeeReader(f, d)); err != nil {
				return withCode(exitFailure, err, "")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s sha256:%x\n", name, d.Sum(nil))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&store, "store", "", "storage directory")
	f.StringVar(&in, "in", "", "encrypted dataset stream")
	f.StringVar(&name, "name", "", "object name (default: the dataset ID)")
	return cmd
}

// serviceFlags name the attestation service and key broker.
type serviceFlags struct {
	url, caFile, tokenFile, dataDir string
	vf                              verifierFlags
}

func (s *serviceFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.url, "service", "", "attestation service base URL (https)")
	f.StringVar(&s.caFile, "ca", "", "PEM certificate the service's TLS certificate chains to")
	f.StringVar(&s.tokenFile, "admin-token", "", "file holding the service's admin token (DATA/admin.token)")
	f.StringVar(&s.dataDir, "service-data", "", "run the service in this process from this state directory instead of --service")
	f.BoolVar(&s.vf.allowSim, "allow-sim", false, "trust the simulated platform's root (--sim-dir) and accept simulated evidence")
	s.vf.register(cmd, "")
}

// svc is a connected service: its URL, CA and an admin client.
type svc struct {
	url   string
	caPEM []byte
	addr  string
	admin *client.Client
	stop  func()
}

// connect connects to --service, or starts the service from
// --service-data on a loopback port.
func (s *serviceFlags) connect(ctx context.Context) (*svc, error) {
	switch {
	case s.dataDir != "" && s.url != "":
		return nil, usageError("give --service or --service-data, not both")
	case s.dataDir != "":
		return s.local(ctx)
	case s.url == "" || s.caFile == "":
		return nil, usageError("--service URL and --ca FILE (or --service-data DIR) are required")
	}
	ca, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, usageError("%v", err)
	}
	var token string
	if s.tokenFile != "" {
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return nil, usageError("%v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	u, err := neturl(s.url)
	if err != nil {
		return nil, usageError("%v", err)
	}
	cl, err := adminClient(s.url, ca, token)
	if err != nil {
		return nil, err
	}
	return &svc{url: s.url, caPEM: ca, addr: u, admin: cl, stop: func() {}}, nil
}

func neturl(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		return "", fmt.Errorf("service URL %q is not https", u)
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, _, err := net.SplitHostPort(host); err != nil {
		host += ":443"
	}
	return host, nil
}

func adminClient(url string, caPEM []byte, token string) (*client.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, usageError("the CA file holds no PEM certificate")
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cl, err := client.New(url, &client.Options{HTTPClient: hc, AdminToken: token})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return cl, nil
}

// local runs the service from a state directory on a loopback port.
func (s *serviceFlags) local(ctx context.Context) (*svc, error) {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, err
	}
	vopts, err := s.vf.build(time.Now, "")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, withCode(exitNetwork, err, "")
	}
	url := "https://" + ln.Addr().String()
	srv, err := service.New(ctx, service.Options{DataDir: s.dataDir, Verifier: verifier.New(vopts), Issuer: url,
		AllowSimulated: s.vf.allowSim, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		ln.Close()
		return nil, withCode(exitFailure, err, "")
	}
	cert, err := service.LoadOrCreateTLSCert(s.dataDir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		ln.Close()
		srv.Close()
		return nil, err
	}
	hs := service.HTTPServer(ln.Addr().String(), srv)
	hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go hs.ServeTLS(ln, "", "")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	cl, err := adminClient(url, caPEM, srv.AdminToken())
	if err != nil {
		hs.Close()
		srv.Close()
		return nil, err
	}
	return &svc{url: url, caPEM: caPEM, addr: ln.Addr().String(), admin: cl, stop: func() { hs.Close(); srv.Close() }}, nil
}

func readContract(path string) (*contract.Contract, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	// The files init and sign write end with a newline.
	c, err := contract.Parse(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		return nil, withCode(exitVerify, err, "")
	}
	return c, nil
}

func newDatasetKeyCmd() *cobra.Command {
	var sf serviceFlags
	var contractFile, id, keyFile, name string
	cmd := &cobra.Command{
		Use:   "key --contract FILE --dataset ID --key KEYFILE (service flags)",
		Short: "Store the dataset's data key in the key broker, released only to the contract's enclave",
		Long: `key stores the data key as a key broker secret whose release policy requires
a token for the contract's enclave (signer, product, minimum security version,
not debug) whose runtime data names this contract's hash. It prints the
secret's name (default: ID-rREVISION-DATASET).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if contractFile == "" || id == "" || keyFile == "" {
				return usageError("--contract, --dataset and --key are required")
			}
			c, err := readContract(contractFile)
			if err != nil {
				return err
			}
			found := false
			for _, d := range c.Datasets {
				found = found || d.ID == id
			}
			if !found {
				return usageError("the contract has no dataset %q", id)
			}
			key, err := readDataKey(keyFile)
			if err != nil {
				return err
			}
			defer clear(key)
			pol, err := room.ReleasePolicy(c)
			if err != nil {
				return err
			}
			s, err := sf.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer s.stop()
			if name == "" {
				name = room.SecretName(c, id)
			}
			err = s.admin.Put(cmd.Context(), "/secrets/"+name, "7.4", service.CreateSecretRequest{
				Value:         room.SecretValue(key),
				ReleasePolicy: &service.ReleasePolicy{ContentType: service.PolicyRego, Data: base64.RawURLEncoding.EncodeToString([]byte(pol))},
			}, nil)
			if err != nil {
				return clientErr(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&contractFile, "contract", "", "contract file")
	f.StringVar(&id, "dataset", "", "dataset ID")
	f.StringVar(&keyFile, "key", "", "data key file")
	f.StringVar(&name, "name", "", "secret name (default: ID-rREVISION-DATASET)")
	sf.register(cmd)
	return cmd
}

func newContractInitCmd() *cobra.Command {
	var id, out, job, signerID, enclaveKey, logFile, store string
	var parties, datasets, params, recipients, columns []string
	var productID, minSVN uint16
	var minGroup int
	var shareCounterparty, shareExternal bool
	cmd := &cobra.Command{
		Use:   "init --id ID --party FILE... --dataset ID=OWNER:sha256:DIGEST... (--signer-id HEX | --enclave-key PEM) --out FILE",
		Short: "Draft a contract (unsigned) from the parties' files and published datasets",
		Long: `init writes revision 1 of a contract, unsigned, in its canonical encoding.
Parties come from their keygen files; datasets name their owner and the
published digest; the enclave is named by its signer (the operator's key, or
--signer-id) and product. By default every party receives findings and
aggregates, sees findings about its own and external accounts, and groups
under 5 are refused. With --log, the proposal is appended to a governance log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || out == "" || len(parties) == 0 || len(datasets) == 0 {
				return usageError("--id, --out, --party and --dataset are required")
			}
			var ps []contract.Party
			for _, p := range parties {
				b, err := os.ReadFile(p)
				if err != nil {
					return usageError("%v", err)
				}
				var pf partyFile
				if err := json.Unmarshal(b, &pf); err != nil {
					return usageError("%s: %v", p, err)
				}
				ps = append(ps, pf)
			}
			var dss []contract.Dataset
			for _, d := range datasets {
				did, rest, ok1 := strings.Cut(d, "=")
				owner, digest, ok2 := strings.Cut(rest, ":")
				digest = strings.TrimPrefix(digest, "sha256:")
				switch {
				case !ok1:
					return usageError("--dataset %q: want ID=OWNER:sha256:DIGEST or ID=OWNER with --store", d)
				case !ok2 && store == "":
					return usageError("--dataset %q has no digest: give ID=OWNER:sha256:DIGEST, or --store", d)
				case !ok2:
					var err error
					if digest, err = storedDigest(store, did); err != nil {
						return err
					}
				}
				dss = append(dss, contract.Dataset{ID: did, Owner: owner, Schema: ledger.Schema(), Digest: digest})
			}
			if enclaveKey != "" {
				b, err := os.ReadFile(enclaveKey)
				if err != nil {
					return usageError("%v", err)
				}
				var pub crypto.PublicKey
				if k, err := image.ParsePrivateKeyPEM(b); err == nil {
					pub = k.Public()
				} else if pub, err = image.ParsePublicKeyPEM(b); err != nil {
					return usageError("--enclave-key %s: %v", enclaveKey, err)
				}
				sid, err := image.SignerID(pub)
				if err != nil {
					return usageError("%v", err)
				}
				signerID = hex.EncodeToString(sid[:])
			}
			if signerID == "" {
				return usageError("--signer-id or --enclave-key is required")
			}
			pm := map[string]float64{}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				n, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil {
					return usageError("--param %q: want NAME=NUMBER", p)
				}
				pm[k] = n
			}
			var rs []contract.Recipient
			if len(recipients) == 0 {
				for _, p := range ps {
					rs = append(rs, contract.Recipient{Party: p.Name, Receives: []string{"findings", "aggregates"}})
				}
			}
			for _, r := range recipients {
				party, what, ok := strings.Cut(r, "=")
				if !ok {
					return usageError("--recipient %q: want PARTY=findings,aggregates", r)
				}
				rs = append(rs, contract.Recipient{Party: party, Receives: strings.Split(what, ",")})
			}
			if len(columns) == 0 {
				columns = policy.FindingColumns()
			}
			c, err := contract.New(id, ps, dss, contract.Job{Kind: job, Params: pm},
				contract.OutputPolicy{Recipients: rs, MinGroupSize: minGroup, Columns: columns, ShareCounterparty: shareCounterparty, ShareExternal: shareExternal},
				contract.EnclavePolicy{SignerID: strings.ToLower(signerID), ProductID: productID, MinSecurityVersion: minSVN})
			if err != nil {
				return withCode(exitUsage, err, "")
			}
			if logFile != "" {
				l, err := governance.Open(logFile, governance.Options{})
				if err != nil {
					return withCode(exitVerify, err, "")
				}
				defer l.Close()
				if _, err := l.Propose(c); err != nil {
					return withCode(exitPolicy, err, "")
				}
			}
			b, err := c.Marshal()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
				return err
			}
			h, _ := c.Hash()
			fmt.Fprintf(cmd.OutOrStdout(), "contract %s r%d sha256:%x\n", c.ID, c.Revision, h)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "contract ID")
	f.StringVar(&out, "out", "", "contract file to write")
	f.StringArrayVar(&parties, "party", nil, "party file from cleanroom keygen (repeat)")
	f.StringArrayVar(&datasets, "dataset", nil, "ID=OWNER:sha256:DIGEST (repeat)")
	f.StringVar(&job, "job", "fraud", "job kind")
	f.StringArrayVar(&params, "param", nil, "job parameter NAME=NUMBER (repeat)")
	f.StringArrayVar(&recipients, "recipient", nil, "PARTY=findings,aggregates (repeat; default: every party gets both)")
	f.StringSliceVar(&columns, "columns", nil, "finding columns that may leave (default: all)")
	f.IntVar(&minGroup, "min-group", 5, "minimum group size of a released aggregate")
	f.BoolVar(&shareCounterparty, "share-counterparty", false, "let parties see findings about other parties' accounts")
	f.BoolVar(&shareExternal, "share-external", true, "let parties see findings about accounts at no party")
	f.StringVar(&signerID, "signer-id", "", "the enclave's signer ID (hex MRSIGNER)")
	f.StringVar(&enclaveKey, "enclave-key", "", "the enclave signer's key (PEM, private or public) instead of --signer-id")
	f.Uint16Var(&productID, "product-id", builtin.ProductCleanroom, "the enclave's product ID")
	f.Uint16Var(&minSVN, "min-svn", 1, "the enclave's minimum security version")
	f.StringVar(&logFile, "log", "", "governance log to append the proposal to")
	f.StringVar(&store, "store", "", "storage directory to take the digests of published datasets from")
	return cmd
}

// storedDigest returns the hex SHA-256 of a published object.
func storedDigest(store, name string) (string, error) {
	rc, err := (dataset.DirStore{Dir: store}).Get(context.Background(), name)
	if err != nil {
		return "", usageError("dataset %s: %v", name, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func newContractSignCmd() *cobra.Command {
	var party, keyFile, logFile string
	cmd := &cobra.Command{
		Use:   "sign --party NAME --key NAME.sign.pem [--log FILE] CONTRACT",
		Short: "Sign a contract as one party (the file is updated in place)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if party == "" || keyFile == "" {
				return usageError("--party and --key are required")
			}
			c, err := readContract(args[0])
			if err != nil {
				return err
			}
			k, err := readPKCS8(keyFile)
			if err != nil {
				return err
			}
			signer, ok := k.(crypto.Signer)
			if !ok {
				return usageError("%s is not a signing key", keyFile)
			}
			if err := c.Sign(party, signer); err != nil {
				if errors.Is(err, contract.ErrWrongKey) || errors.Is(err, contract.ErrUnknownParty) {
					return withCode(exitVerify, err, "")
				}
				return err
			}
			if logFile != "" {
				l, err := governance.Open(logFile, governance.Options{})
				if err != nil {
					return withCode(exitVerify, err, "")
				}
				defer l.Close()
				h, _ := c.Hash()
				for _, s := range c.Signatures {
					if s.Party == party {
						if _, err := l.AppendSignature(c.ID, h, s); err != nil {
							return withCode(exitPolicy, err, "")
						}
					}
				}
			}
			b, err := c.Marshal()
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[0], append(b, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "signed by %s\n", party)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&party, "party", "", "signing party's name")
	f.StringVar(&keyFile, "key", "", "the party's signing key (keygen's NAME.sign.pem)")
	f.StringVar(&logFile, "log", "", "governance log to append the signature to")
	return cmd
}

func newContractVerifyCmd() *cobra.Command {
	var asJSON bool
	var logFile string
	cmd := &cobra.Command{
		Use:   "verify [--json] [--log FILE] CONTRACT",
		Short: "Check that a contract is active: valid and signed by every party",
		Long: `verify exits 0 when every party has signed the contract's current hash,
3 when a signature is missing or does not verify. With --log it also checks
the governance log's chain and that its active revision is this contract.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			// The file may end with the newline init and sign add.
			c, err := contract.Parse([]byte(strings.TrimSuffix(string(b), "\n")))
			if err != nil {
				return withCode(exitVerify, err, "")
			}
			h, _ := c.Hash()
			verr := c.Verify()
			if verr == nil && logFile != "" {
				l, err := governance.Open(logFile, governance.Options{})
				if err != nil {
					return withCode(exitVerify, err, "")
				}
				defer l.Close()
				a, err := l.Active(c.ID)
				if err != nil {
					verr = err
				} else if ah, _ := a.Hash(); ah != h {
					verr = fmt.Errorf("governance: the log's active revision of %s is r%d, not this contract", c.ID, a.Revision)
				}
			}
			var signed []string
			for _, s := range c.Signatures {
				signed = append(signed, s.Party)
			}
			if asJSON {
				m := map[string]any{"id": c.ID, "revision": c.Revision, "hash": hex.EncodeToString(h[:]), "signed_by": signed, "active": verr == nil}
				if verr != nil {
					m["error"] = verr.Error()
				}
				json.NewEncoder(cmd.OutOrStdout()).Encode(m)
			} else if verr == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "contract %s r%d sha256:%x active, signed by %s\n", c.ID, c.Revision, h, strings.Join(signed, ", "))
			}
			if verr != nil {
				return withCode(exitVerify, verr, "")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&logFile, "log", "", "governance log to check the contract against")
	return cmd
}

func newCleanroomRunCmd() *cobra.Command {
	var sf serviceFlags
	var contractFile, store, enclaveKey, imagePath, outDir string
	var secrets []string
	var svn uint16
	cmd := &cobra.Command{
		Use:   "run --contract FILE --store DIR (--enclave-key PEM | --image FILE) --out-dir DIR (service flags)",
		Short: "Run a signed contract in the clean-room enclave",
		Long: `run loads the clean-room enclave (this binary signed with --enclave-key as the
built-in clean-room product, or a signed --image), hands it the contract and
relays: stored ciphertext in, TLS to the attestation service, and one signed,
sealed output per party out, written to DIR/PARTY.json. The enclave attests,
obtains the data keys from the key broker and refuses anything the contract
does not allow; this process sees ciphertext only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if contractFile == "" || store == "" || outDir == "" || (enclaveKey == "") == (imagePath == "") {
				return usageError("--contract, --store, --out-dir and one of --enclave-key and --image are required")
			}
			c, err := readContract(contractFile)
			if err != nil {
				return err
			}
			signed, _ := c.Marshal()
			if imagePath == "" {
				b, err := os.ReadFile(enclaveKey)
				if err != nil {
					return usageError("%v", err)
				}
				key, err := image.ParsePrivateKeyPEM(b)
				if err != nil {
					return usageError("--enclave-key %s: %v", enclaveKey, err)
				}
				cfg := image.DefaultConfig()
				cfg.ProductID, cfg.SecurityVersion, cfg.NumTCS = builtin.ProductCleanroom, svn, 4
				cfg.NumHeapPages = 1 << 20
				path, cleanup, err := builtin.SignSelf(cfg, key)
				if err != nil {
					return err
				}
				defer cleanup()
				imagePath = path
			}
			s, err := sf.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer s.stop()
			req := &room.Request{Contract: signed, Service: s.url, ServiceCA: s.caPEM, Secrets: map[string]string{}}
			for _, d := range c.Datasets {
				req.Secrets[d.ID] = room.SecretName(c, d.ID)
			}
			for _, kv := range secrets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError("--secret %q: want DATASET=NAME", kv)
				}
				req.Secrets[k] = v
			}
			simDir := sf.vf.simDir
			if simDir == "" {
				simDir = defaultSimDir()
			}
			if _, err := sim.Init(simDir); err != nil {
				return err
			}
			progress := cmd.ErrOrStderr()
			outs, err := room.Run(cmd.Context(), imagePath, req, room.Options{
				Store: dataset.DirStore{Dir: store}, SimDir: simDir,
				Progress: func(st string) { fmt.Fprintf(progress, "enclave: %s\n", st) },
				Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
					if address != s.addr {
						return nil, fmt.Errorf("the enclave may only reach the attestation service, not %s", address)
					}
					return (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, network, address)
				},
			})
			if err != nil {
				return runErr(err)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			for _, p := range sortedNames(outs) {
				if _, err := c.Party(p); err != nil {
					return withCode(exitVerify, fmt.Errorf("the enclave returned an output for %q, not a party", p), "")
				}
				path := filepath.Join(outDir, p+".json")
				if err := os.WriteFile(path, outs[p], 0o644); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), path)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&contractFile, "contract", "", "signed contract")
	f.StringVar(&store, "store", "", "storage directory holding the published datasets")
	f.StringVar(&enclaveKey, "enclave-key", "", "operator key to sign the built-in clean-room enclave with")
	f.StringVar(&imagePath, "image", "", "a signed clean-room enclave image instead")
	f.Uint16Var(&svn, "svn", 1, "security version to sign the built-in enclave with")
	f.StringVar(&outDir, "out-dir", "", "directory for the parties' outputs")
	f.StringArrayVar(&secrets, "secret", nil, "DATASET=SECRET key broker secret name (default: ID-rREVISION-DATASET)")
	sf.register(cmd)
	return cmd
}

// runErr maps a room error to an exit code.
func runErr(err error) error {
	switch {
	case errors.Is(err, image.ErrSignature), errors.Is(err, contract.ErrUnsigned), errors.Is(err, contract.ErrBadSignature),
		errors.Is(err, contract.ErrInvalid), errors.Is(err, dataset.ErrAuth), errors.Is(err, dataset.ErrDigest),
		errors.Is(err, dataset.ErrFormat), errors.Is(err, room.ErrOutput):
		return withCode(exitVerify, err, "")
	case errors.Is(err, room.ErrAttestation), errors.Is(err, room.ErrKeyRelease), errors.Is(err, policy.ErrOutputPolicy),
		errors.Is(err, contract.ErrEnclave), errors.Is(err, host.ErrDebugImage):
		return withCode(exitPolicy, err, "")
	case errors.Is(err, room.ErrNetwork):
		return withCode(exitNetwork, err, "is the attestation service running and reachable?")
	}
	return withCode(exitFailure, err, "")
}

func newResultOpenCmd() *cobra.Command {
	var vf verifierFlags
	var contractFile, party, keyFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "open --contract FILE --party NAME --key NAME.result.pem OUTPUT",
		Short: "Verify the enclave's output for a party and decrypt it",
		Long: `open checks the output's evidence (the enclave's quote: signatures, chain and
TCB; with --allow-sim, the simulated platform's root is trusted), that the
enclave is the one the contract names, that the evidence binds this contract
and the key that signed the output, and the signature; then it decrypts the
party's release with its result key and prints it. Exit 3 when anything does
not verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if contractFile == "" || party == "" || keyFile == "" {
				return usageError("--contract, --party and --key are required")
			}
			c, err := readContract(contractFile)
			if err != nil {
				return err
			}
			k, err := readPKCS8(keyFile)
			if err != nil {
				return err
			}
			priv, ok := k.(*ecdh.PrivateKey)
			if !ok {
				return usageError("%s is not an X25519 or P-256 result key", keyFile)
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			out, err := room.ParseOutput(raw)
			if err != nil {
				return withCode(exitVerify, err, "")
			}
			vopts, err := vf.build(time.Now, "")
			if err != nil {
				return err
			}
			vo := room.VerifyOptions{Verifier: verifier.New(vopts), AllowSimulated: vf.allowSim}
			if c.Job.Kind == "train" {
				rel, err := room.OpenTrain(cmd.Context(), out, c, party, priv, vo)
				if err != nil {
					return withCode(exitVerify, err, "")
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rel)
			}
			rel, claims, err := room.Open(cmd.Context(), out, c, party, priv, vo)
			if err != nil {
				return withCode(exitVerify, err, "")
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{"release": rel, "enclave": map[string]any{
					"unique_id": hex.EncodeToString(claims.UniqueID), "signer_id": hex.EncodeToString(claims.SignerID),
					"product_id": claims.ProductID, "security_version": claims.SecurityVersion, "simulated": claims.Simulated}})
			}
			fmt.Fprintf(w, "verified: enclave %x… (product %#x, svn %d, simulated=%v) ran contract %s r%d\n",
				claims.UniqueID[:6], claims.ProductID, claims.SecurityVersion, claims.Simulated, c.ID, c.Revision)
			fmt.Fprintf(w, "%s\n", strings.Join(rel.Columns, "\t"))
			for _, r := range rel.Rows {
				fmt.Fprintf(w, "%s\n", strings.Join(r, "\t"))
			}
			for _, a := range rel.Aggregates {
				fmt.Fprintf(w, "aggregate %s%s = %g (group %d)\n", a.Name, map[bool]string{true: "@" + a.Bank}[a.Bank != ""], a.Value, a.GroupSize)
			}
			fmt.Fprintf(w, "withheld %d\n", rel.Withheld)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&contractFile, "contract", "", "the contract the output is for")
	f.StringVar(&party, "party", "", "the receiving party")
	f.StringVar(&keyFile, "key", "", "the party's result key (keygen's NAME.result.pem)")
	f.BoolVar(&asJSON, "json", false, "print the release as JSON")
	f.BoolVar(&vf.allowSim, "allow-sim", false, "trust the simulated platform's root (--sim-dir) and accept simulated evidence")
	vf.register(cmd, "")
	return cmd
}

func newSynthCmd() *cobra.Command {
	var outA, outB, truthFile string
	var tx int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "synth --out-a A.csv --out-b B.csv [--truth FILE]",
		Short: "Generate two banks' synthetic tables with planted fraud (for trying the roles)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outA == "" || outB == "" {
				return usageError("--out-a and --out-b are required")
			}
			fa, err := os.OpenFile(outA, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer fa.Close()
			fb, err := os.OpenFile(outB, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer fb.Close()
			ba, bb := bufio.NewWriter(fa), bufio.NewWriter(fb)
			tr, err := synth.Generate(synth.Config{Seed: seed, Transactions: tx}, ba, bb)
			if err == nil {
				err = errors.Join(ba.Flush(), bb.Flush(), fa.Close(), fb.Close())
			}
			if err != nil {
				return err
			}
			if truthFile != "" {
				b, _ := json.MarshalIndent(tr, "", "  ")
				if err := os.WriteFile(truthFile, append(b, '\n'), 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d transactions; planted %d mules, %d chains, %d bursts\n", tr.Transactions, len(tr.Mules), len(tr.Chains), len(tr.Bursts))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&outA, "out-a", "", "bank A's table (prefix BANKA)")
	f.StringVar(&outB, "out-b", "", "bank B's table (prefix BANKB)")
	f.StringVar(&truthFile, "truth", "", "write the planted truth here")
	f.IntVar(&tx, "transactions", 2000, "ordinary transactions across both banks")
	f.Uint64Var(&seed, "seed", 1, "generator seed")
	return cmd
}
