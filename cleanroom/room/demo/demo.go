package demo

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/confide-dev/confide/attest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/governance"
	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/confide-dev/confide/cleanroom/train"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/tee/sim"
)

// ProductID is the enclave product ID the demo's contract names
// (internal/builtin.ProductCleanroom: the confide binary serves the
// clean-room enclave under it).
const ProductID uint16 = 0xC1

// SignFunc signs the clean-room enclave program under cfg with key and
// returns the signed image's path and a cleanup function.
type SignFunc func(cfg image.Config, key crypto.Signer) (path string, cleanup func(), err error)

// Config configures Run.
type Config struct {
	// Dir holds everything the demo keeps: the simulated platform, the
	// service's database, the published ciphertext and the governance
	// log. Required; it is created if absent.
	Dir string
	// Transactions is the number of ordinary transactions across both
	// banks. Zero: 20000.
	Transactions int
	// Seed drives the synthetic data. Zero: 1.
	Seed uint64
	// Sign signs the enclave program. Required (the confide command passes
	// internal/builtin.SignSelf).
	Sign SignFunc
	// Log receives progress lines. Nil: discarded.
	Log io.Writer
	// Observe sees every byte the host handles during the main run (see
	// room.Options.Observe). It must be safe for concurrent use. Nil: none.
	Observe func(channel string, data []byte)
	// SkipNegative skips the negative checks.
	SkipNegative bool
	// SkipBaseline skips the plaintext baseline run.
	SkipBaseline bool
}

// Stage is one timed step of the demo.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Bank is what one bank learned from its release.
type Bank struct {
	// Findings counts released findings by kind.
	Findings map[string]int `json:"findings"`
	// Examples are a few released findings per kind (account and score).
	Examples map[string][]string `json:"examples"`
	// Withheld is the number of findings the output policy hid from it.
	Withheld int `json:"withheld"`
	// Aggregates are the released aggregates, name → value.
	Aggregates map[string]float64 `json:"aggregates"`
}

// Check is one negative check: something that must be refused.
type Check struct {
	// Name names the check.
	Name string
	// Err is the refusal; nil means it was NOT refused.
	Err error
}

// Throughput compares the enclave run with the same job in plaintext.
type Throughput struct {
	// EnclaveTxPerSec is transactions per second through the whole
	// enclave run: load, attest, key release, streaming decryption, job,
	// policy and sealing.
	EnclaveTxPerSec float64 `json:"enclave_tx_per_sec"`
	// PlaintextTxPerSec is the same job on the plaintext tables in this
	// process (no enclave, no encryption).
	PlaintextTxPerSec float64 `json:"plaintext_tx_per_sec"`
	// Ratio is enclave time over plaintext time.
	Ratio float64 `json:"ratio"`
	// LoadSeconds is the part of the enclave run spent starting the
	// enclave (the host checking the image, the enclave measuring itself)
	// before it began attesting: a fixed cost per run.
	LoadSeconds float64 `json:"load_seconds"`
	// RatioAfterLoad is Ratio without LoadSeconds.
	RatioAfterLoad float64 `json:"ratio_after_load"`
}

// Report is what the demo found.
type Report struct {
	// Transactions is the number of distinct transactions analysed.
	Transactions int `json:"transactions"`
	// Rows counts each bank's table rows.
	Rows map[string]int `json:"rows"`
	// Precision and Recall score the findings both banks received,
	// pooled, against the planted truth (all kinds together).
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Kinds score each kind of finding.
	Kinds []fraud.Metrics `json:"kinds"`
	// Banks maps a party to what it learned.
	Banks map[string]Bank `json:"banks"`
	// Enclave describes the attested enclave.
	Enclave EnclaveInfo `json:"enclave"`
	// Stages are the timed steps, in order.
	Stages []Stage `json:"stages"`
	// Seconds is the demo's total time.
	Seconds float64 `json:"seconds"`
	// Training compares the fraud classifier trained on the pooled data
	// with each bank's alone, as both banks received it.
	Training *Training `json:"training"`
	// Throughput is the enclave-versus-plaintext figure (zero if skipped).
	Throughput Throughput `json:"throughput"`
	// NegativeChecks maps each negative check to why it was refused.
	NegativeChecks map[string]string `json:"negative_checks"`
	// Checks are the negative checks with their errors.
	Checks []Check `json:"-"`
	// Truth is the planted ground truth.
	Truth *synth.Truth `json:"-"`
	// Dir is the state directory.
	Dir string `json:"dir"`
}

// Training is what the "train" contract gave the banks: held-out metrics
// of the pooled model and of each bank's model alone.
type Training struct {
	// Pooled are the pooled model's metrics.
	Pooled train.Metrics `json:"pooled"`
	// Alone maps a bank prefix to its alone model's metrics.
	Alone map[string]train.Metrics `json:"alone"`
	// TrainExamples counts the pooled training examples.
	TrainExamples int `json:"train_examples"`
	// ModelWeights is the number of weights of the model the banks got.
	ModelWeights int `json:"model_weights"`
}

// EnclaveInfo describes the enclave whose evidence the banks verified.
type EnclaveInfo struct {
	UniqueID        string `json:"unique_id"`
	SignerID        string `json:"signer_id"`
	ProductID       uint16 `json:"product_id"`
	SecurityVersion uint16 `json:"security_version"`
	Simulated       bool   `json:"simulated"`
}

// ErrNotRefused is returned by Run when a negative check was not refused.
var ErrNotRefused = errors.New("demo: a negative check was not refused")

// bank is one party of the demo, with its secrets.
type bank struct {
	name, prefix, dataset string
	signKey               ed25519.PrivateKey
	resultKey             *ecdh.PrivateKey
	dataKey               []byte
	digest                dataset.Digest
}

// world is the running demo.
type world struct {
	cfg      Config
	log      func(format string, args ...any)
	stages   []Stage
	simDir   string
	store    dataset.Store
	svc      *service.Server
	svcURL   string
	svcAddr  string
	caPEM    []byte
	admin    *client.Client
	verifier *verifier.Verifier
	banks    []*bank
	gov      *governance.Log
	opKey    crypto.Signer
	imgCfg   image.Config
	image    string
	identity image.Identity
	truth    *synth.Truth
}

func (w *world) stage(name string, start time.Time) {
	d := time.Since(start)
	w.stages = append(w.stages, Stage{Name: name, Seconds: d.Seconds()})
	w.log("  %-28s %8.3fs", name, d.Seconds())
}

// Run runs the demo: it generates two banks' tables with planted fraud,
// starts the attestation service in process, has the banks publish their
// encrypted tables and store their data keys with release policies, sign
// the contract in the governance log, runs the clean-room enclave, opens
// each bank's result, scores it against the planted truth, and attempts
// every negative check.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" || cfg.Sign == nil {
		return nil, errors.New("demo: Config.Dir and Config.Sign are required")
	}
	if cfg.Transactions == 0 {
		cfg.Transactions = 20000
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	w := &world{cfg: cfg, log: func(f string, a ...any) { fmt.Fprintf(logw, f+"\n", a...) }}
	begin := time.Now()

	w.log("confide clean-room demo: two banks, %d transactions, state in %s", cfg.Transactions, cfg.Dir)
	stop, err := w.setup(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := w.publish(ctx); err != nil {
		return nil, err
	}
	c, err := w.agree(ctx, "fraud", "fraud-detection", 1, 5)
	if err != nil {
		return nil, err
	}
	req, err := w.storeKeys(ctx, c)
	if err != nil {
		return nil, err
	}

	w.log("running the contract in the enclave")
	t := time.Now()
	var loaded time.Duration
	outs, err := room.Run(ctx, w.image, req, w.roomOptions(false, func(stage string) {
		if stage == room.StageAttest {
			loaded = time.Since(t)
		}
		w.log("    %6.3fs enclave: %s", time.Since(t).Seconds(), stageText[stage])
	}, cfg.Observe))
	if err != nil {
		return nil, fmt.Errorf("demo: enclave run: %w", err)
	}
	enclaveTime := time.Since(t)
	w.stage("enclave run", t)

	rep := &Report{Rows: w.truth.Rows, Transactions: w.truth.Transactions, Truth: w.truth, Dir: cfg.Dir,
		Banks: map[string]Bank{}, NegativeChecks: map[string]string{}}
	t = time.Now()
	var learned []fraud.Finding
	for _, b := range w.banks {
		rel, claims, err := w.open(ctx, outs, c, b)
		if err != nil {
			return nil, fmt.Errorf("demo: %s opens its result: %w", b.name, err)
		}
		rep.Enclave = EnclaveInfo{UniqueID: hex.EncodeToString(claims.UniqueID), SignerID: hex.EncodeToString(claims.SignerID),
			ProductID: claims.ProductID, SecurityVersion: claims.SecurityVersion, Simulated: claims.Simulated}
		view, fs := bankView(rel)
		rep.Banks[b.name] = view
		learned = append(learned, fs...)
	}
	w.stage("verify and open results", t)
	rep.Kinds, rep.Precision, rep.Recall = score(learned, w.truth)

	if rep.Training, err = w.training(ctx); err != nil {
		return nil, err
	}

	if !cfg.SkipBaseline {
		t = time.Now()
		plain, err := w.plaintextRun(ctx, c)
		if err != nil {
			return nil, err
		}
		w.stage("plaintext baseline", t)
		n := float64(w.truth.Transactions)
		rep.Throughput = Throughput{EnclaveTxPerSec: n / enclaveTime.Seconds(), PlaintextTxPerSec: n / plain.Seconds(),
			Ratio: enclaveTime.Seconds() / plain.Seconds(), LoadSeconds: loaded.Seconds(),
			RatioAfterLoad: (enclaveTime - loaded).Seconds() / plain.Seconds()}
	}

	if !cfg.SkipNegative {
		t = time.Now()
		w.log("negative checks (each must be refused)")
		rep.Checks = w.negative(ctx, c, req, outs)
		for _, ch := range rep.Checks {
			if ch.Err == nil {
				w.log("  %-22s NOT REFUSED", ch.Name)
				rep.NegativeChecks[ch.Name] = "NOT REFUSED"
				continue
			}
			w.log("  %-22s refused: %v", ch.Name, ch.Err)
			rep.NegativeChecks[ch.Name] = ch.Err.Error()
		}
		w.stage("negative checks", t)
	}
	rep.Stages = w.stages
	rep.Seconds = time.Since(begin).Seconds()
	for _, ch := range rep.Checks {
		if ch.Err == nil {
			return rep, fmt.Errorf("%w: %s", ErrNotRefused, ch.Name)
		}
	}
	return rep, nil
}

// stageText describes the enclave's stages as they start.
var stageText = map[string]string{
	room.StageAttest:   "loaded and measured; attesting (evidence binds the contract hash and ephemeral keys)",
	room.StageRelease:  "token issued; asking the key broker for both data keys",
	room.StageRun:      "keys released to the enclave; streaming and decrypting both datasets, running the job",
	room.StageSeal:     "output policy passed; sealing and signing each bank's result",
	room.StageFinished: "done",
}

// setup makes the state directories, the simulated platform, the service
// and the signed enclave.
func (w *world) setup(ctx context.Context) (stop func(), err error) {
	t := time.Now()
	dir := w.cfg.Dir
	storage := filepath.Join(dir, "storage")
	svcDir := filepath.Join(dir, "service")
	w.simDir = filepath.Join(dir, "sim")
	for _, d := range []string{dir, storage, svcDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	w.store = dataset.DirStore{Dir: storage}
	st, err := sim.Init(w.simDir)
	if err != nil {
		return nil, fmt.Errorf("demo: simulated platform: %w", err)
	}
	w.verifier = verifier.New(verifier.WithSimulated(st.RootCertificate(), st.Getter(), nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	w.svcAddr = ln.Addr().String()
	w.svcURL = "https://" + w.svcAddr
	cert, err := service.LoadOrCreateTLSCert(svcDir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		ln.Close()
		return nil, err
	}
	w.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	// A fresh database per run: the service's state is the demo's.
	for _, f := range []string{"confide.db", "confide.db-wal", "confide.db-shm"} {
		os.Remove(filepath.Join(svcDir, f))
	}
	w.svc, err = service.New(ctx, service.Options{
		DataDir: svcDir, Verifier: w.verifier, Issuer: w.svcURL, AllowSimulated: true,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo: service: %w", err)
	}
	hs := service.HTTPServer(w.svcAddr, w.svc)
	hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	hs.ErrorLog = nil
	go hs.ServeTLS(ln, "", "")
	stop = func() {
		hs.Close()
		w.svc.Close()
		if w.gov != nil {
			w.gov.Close()
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.caPEM)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if w.admin, err = client.New(w.svcURL, &client.Options{HTTPClient: hc, AdminToken: w.svc.AdminToken()}); err != nil {
		stop()
		return nil, err
	}
	w.log("  attestation service and key broker at %s (simulated evidence allowed, root %x…)", w.svcURL, fingerprint(st.RootFingerprint()))

	// The enclave: the operator signs it; the contract names its signer.
	if w.opKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		stop()
		return nil, err
	}
	w.imgCfg = image.DefaultConfig()
	w.imgCfg.ProductID = ProductID
	w.imgCfg.SecurityVersion = 1
	w.imgCfg.NumTCS = 4
	w.imgCfg.NumHeapPages = heapPages(w.cfg.Transactions)
	path, cleanup, err := w.cfg.Sign(w.imgCfg, w.opKey)
	if err != nil {
		stop()
		return nil, fmt.Errorf("demo: sign enclave: %w", err)
	}
	prev := stop
	stop = func() { prev(); cleanup() }
	w.image = path
	data, err := os.ReadFile(path)
	if err != nil {
		stop()
		return nil, err
	}
	img, err := image.Open(data)
	if err != nil {
		stop()
		return nil, err
	}
	w.identity = img.Identity
	w.log("  enclave signed: product %#x, SVN %d, signer %x…", ProductID, w.imgCfg.SecurityVersion, w.identity.SignerID[:6])
	w.stage("setup (platform, service)", t)
	return stop, nil
}

// heapPages sizes the enclave heap for the data: 1 GiB, plus 1 GiB per
// 500k transactions beyond the first 500k.
func heapPages(tx int) uint64 {
	gib := uint64(1 + tx/500_000)
	return gib << 18
}

// publish generates the banks' tables and has each bank encrypt and publish
// its own, streaming: the plaintext is never stored.
func (w *world) publish(ctx context.Context) error {
	t := time.Now()
	w.banks = nil
	for _, p := range []struct{ name, prefix string }{{"bank-a", "BANKA"}, {"bank-b", "BANKB"}} {
		_, sk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		rk, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		dk := make([]byte, dataset.KeySize)
		if _, err := rand.Read(dk); err != nil {
			return err
		}
		w.banks = append(w.banks, &bank{name: p.name, prefix: p.prefix, dataset: p.name + "-transactions", signKey: sk, resultKey: rk, dataKey: dk})
	}
	var pw [2]*io.PipeWriter
	errs := make(chan error, 2)
	for i, b := range w.banks {
		pr, wr := io.Pipe()
		pw[i] = wr
		go func() {
			d, err := dataset.Publish(ctx, w.store, b.dataset, pr, b.dataKey, dataset.Meta{ID: b.dataset, Schema: ledger.Schema()})
			b.digest = d
			pr.CloseWithError(err)
			errs <- err
		}()
	}
	ba, bb := bufio.NewWriterSize(pw[0], 256<<10), bufio.NewWriterSize(pw[1], 256<<10)
	tr, genErr := synth.Generate(w.synthConfig(), ba, bb)
	if genErr == nil {
		genErr = errors.Join(ba.Flush(), bb.Flush())
	}
	pw[0].CloseWithError(genErr)
	pw[1].CloseWithError(genErr)
	if err := errors.Join(genErr, <-errs, <-errs); err != nil {
		return fmt.Errorf("demo: publish: %w", err)
	}
	w.truth = tr
	for _, b := range w.banks {
		w.log("  %s encrypted and published %d rows as %s (sha256 %x…)", b.name, tr.Rows[b.prefix], b.dataset, b.digest[:6])
	}
	w.log("  planted: %d mules, %d layering chains, %d velocity bursts (truth kept aside)", len(tr.Mules), len(tr.Chains), len(tr.Bursts))
	w.stage("generate, encrypt, publish", t)
	return nil
}

func (w *world) synthConfig() synth.Config {
	return synth.Config{Seed: w.cfg.Seed, Transactions: w.cfg.Transactions, BankA: w.banks[0].prefix, BankB: w.banks[1].prefix}
}

// newContract drafts a contract revision over the published datasets.
func (w *world) newContract(kind, id string, revision, minGroup int) (*contract.Contract, error) {
	var parties []contract.Party
	var datasets []contract.Dataset
	var recipients []contract.Recipient
	for _, b := range w.banks {
		sk, err := contract.EncodeSigningKey(b.signKey.Public())
		if err != nil {
			return nil, err
		}
		rk, err := contract.NewResultKey(b.resultKey.PublicKey())
		if err != nil {
			return nil, err
		}
		parties = append(parties, contract.Party{Name: b.name, SigningKey: sk, ResultKey: rk, AccountPrefix: b.prefix})
		datasets = append(datasets, contract.Dataset{ID: b.dataset, Owner: b.name, Schema: ledger.Schema(), Digest: hex.EncodeToString(b.digest[:])})
		receives := []string{"findings", "aggregates"}
		if kind == "train" {
			receives = []string{"model", "metrics"}
		}
		recipients = append(recipients, contract.Recipient{Party: b.name, Receives: receives})
	}
	c, err := contract.New(id, parties, datasets, contract.Job{Kind: kind, Params: map[string]float64{}},
		contract.OutputPolicy{Recipients: recipients, MinGroupSize: minGroup, Columns: policy.FindingColumns(), ShareExternal: true},
		contract.EnclavePolicy{SignerID: hex.EncodeToString(w.identity.SignerID[:]), ProductID: ProductID, MinSecurityVersion: 1})
	if err != nil {
		return nil, err
	}
	c.Revision = revision
	return c, c.Validate()
}

// agree proposes a contract revision in the governance log and has every
// bank sign it; it returns the active, signed contract.
func (w *world) agree(ctx context.Context, kind, id string, revision, minGroup int) (*contract.Contract, error) {
	t := time.Now()
	if w.gov == nil {
		path := filepath.Join(w.cfg.Dir, "governance.log")
		os.Remove(path)
		var err error
		if w.gov, err = governance.Open(path, governance.Options{}); err != nil {
			return nil, err
		}
	}
	c, err := w.newContract(kind, id, revision, minGroup)
	if err != nil {
		return nil, err
	}
	if _, err := w.gov.Propose(c); err != nil {
		return nil, err
	}
	hash, err := c.Hash()
	if err != nil {
		return nil, err
	}
	for _, b := range w.banks {
		// Each bank signs its own copy and appends its signature.
		mine, err := contract.Parse(mustMarshal(c))
		if err != nil {
			return nil, err
		}
		if err := mine.Sign(b.name, b.signKey); err != nil {
			return nil, err
		}
		if _, err := w.gov.AppendSignature(id, hash, mine.Signatures[0]); err != nil {
			return nil, err
		}
	}
	if err := w.gov.Verify(); err != nil {
		return nil, err
	}
	active, err := w.gov.Active(id)
	if err != nil {
		return nil, err
	}
	if active.Revision != revision {
		return nil, fmt.Errorf("demo: active revision %d; want %d", active.Revision, revision)
	}
	if revision == 1 && kind == "fraud" {
		w.log("  contract %s r%d proposed and signed by both banks in the governance log (hash %x…)", id, revision, hash[:6])
		w.stage("contract and signatures", t)
	}
	return active, nil
}

func mustMarshal(c *contract.Contract) []byte {
	b, err := c.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// storeKeys has each bank store its data key in the key broker with a
// release policy for the contract's enclave and hash, and returns the run
// request.
func (w *world) storeKeys(ctx context.Context, c *contract.Contract) (*room.Request, error) {
	t := time.Now()
	pol, err := room.ReleasePolicy(c)
	if err != nil {
		return nil, err
	}
	signed, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	req := &room.Request{Contract: signed, Service: w.svcURL, ServiceCA: w.caPEM, Secrets: map[string]string{}}
	for _, b := range w.banks {
		name := room.SecretName(c, b.dataset)
		var sb service.SecretBundle
		err := w.admin.Put(ctx, "/secrets/"+name, "7.4", service.CreateSecretRequest{
			Value:         room.SecretValue(b.dataKey),
			ReleasePolicy: &service.ReleasePolicy{ContentType: service.PolicyRego, Data: b64url(pol)},
		}, &sb)
		if err != nil {
			return nil, fmt.Errorf("demo: %s stores its data key: %w", b.name, err)
		}
		req.Secrets[b.dataset] = name
	}
	if c.Revision == 1 && c.Job.Kind == "fraud" {
		w.log("  both data keys stored in the key broker, released only to the contract's enclave with the contract hash bound")
		w.stage("key broker setup", t)
	}
	return req, nil
}

// roomOptions returns the host options of a run: the enclave may reach the
// service and nothing else.
func (w *world) roomOptions(debug bool, progress func(string), observe func(string, []byte)) room.Options {
	return room.Options{
		Store: w.store, Platform: "sim", SimDir: w.simDir, Debug: debug, Progress: progress, Observe: observe,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if address != w.svcAddr {
				return nil, fmt.Errorf("demo: the enclave may only reach the attestation service, not %s", address)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		},
	}
}

// open is one bank verifying and opening its output.
func (w *world) open(ctx context.Context, outs map[string][]byte, c *contract.Contract, b *bank) (*policy.Release, *attest.Claims, error) {
	raw, ok := outs[b.name]
	if !ok {
		return nil, nil, fmt.Errorf("no output for %s", b.name)
	}
	out, err := room.ParseOutput(raw)
	if err != nil {
		return nil, nil, err
	}
	return room.Open(ctx, out, c, b.name, b.resultKey, room.VerifyOptions{Verifier: w.verifier, AllowSimulated: true})
}

// bankView summarises a release.
func bankView(rel *policy.Release) (Bank, []fraud.Finding) {
	v := Bank{Findings: map[string]int{}, Examples: map[string][]string{}, Withheld: rel.Withheld, Aggregates: map[string]float64{}}
	col := map[string]int{}
	for i, c := range rel.Columns {
		col[c] = i
	}
	var fs []fraud.Finding
	for _, row := range rel.Rows {
		kind, acct := row[col["kind"]], row[col["account"]]
		v.Findings[kind]++
		if len(v.Examples[kind]) < 3 {
			v.Examples[kind] = append(v.Examples[kind], acct+" (score "+row[col["score"]]+")")
		}
		fs = append(fs, fraud.Finding{Kind: kind, Account: acct})
	}
	for _, a := range rel.Aggregates {
		name := a.Name
		if a.Bank != "" {
			name += "@" + a.Bank
		}
		v.Aggregates[name] = a.Value
	}
	return v, fs
}

// score compares the pooled released findings with the planted truth.
func score(learned []fraud.Finding, tr *synth.Truth) ([]fraud.Metrics, float64, float64) {
	seen := map[[2]string]bool{}
	var fs []fraud.Finding
	for _, f := range learned {
		k := [2]string{f.Kind, f.Account}
		if !seen[k] {
			seen[k] = true
			fs = append(fs, f)
		}
	}
	ms := []fraud.Metrics{
		fraud.Score(fs, fraud.Mule, tr.Mules),
		fraud.Score(fs, fraud.Layering, tr.ChainAccounts()),
		fraud.Score(fs, fraud.Velocity, tr.Bursts),
	}
	var tp, fp, fn int
	for _, m := range ms {
		tp, fp, fn = tp+m.TruePositives, fp+m.FalsePositives, fn+m.FalseNegatives
	}
	p, r := 1.0, 1.0
	if tp+fp > 0 {
		p = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		r = float64(tp) / float64(tp+fn)
	}
	return ms, p, r
}

// training runs the second contract: a fraud classifier trained on the
// pooled labelled transactions, where only the model and metrics leave.
func (w *world) training(ctx context.Context) (*Training, error) {
	t := time.Now()
	w.log("training a fraud classifier on the pooled data (second contract: only the model and metrics leave)")
	c, err := w.agree(ctx, "train", "fraud-model", 1, 5)
	if err != nil {
		return nil, err
	}
	req, err := w.storeKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	outs, err := room.Run(ctx, w.image, req, w.roomOptions(false, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("demo: training run: %w", err)
	}
	var tr *Training
	for _, b := range w.banks {
		out, err := room.ParseOutput(outs[b.name])
		if err != nil {
			return nil, err
		}
		rel, err := room.OpenTrain(ctx, out, c, b.name, b.resultKey, room.VerifyOptions{Verifier: w.verifier, AllowSimulated: true})
		if err != nil {
			return nil, fmt.Errorf("demo: %s opens the training result: %w", b.name, err)
		}
		if rel.Model == nil || rel.Pooled == nil {
			return nil, fmt.Errorf("demo: %s's training release lacks the model or metrics", b.name)
		}
		tr = &Training{Pooled: *rel.Pooled, Alone: rel.Alone, TrainExamples: rel.TrainExamples, ModelWeights: len(rel.Model.Weights)}
	}
	w.log("  pooled model: AUC %.3f, precision %.3f, recall %.3f on %d held-out transactions", tr.Pooled.AUC, tr.Pooled.Precision, tr.Pooled.Recall, tr.Pooled.Examples)
	for _, bank := range sortedKeys(tr.Alone) {
		m := tr.Alone[bank]
		w.log("  %s alone:  AUC %.3f, precision %.3f, recall %.3f on the same set", bank, m.AUC, m.Precision, m.Recall)
	}
	w.stage("training contract", t)
	return tr, nil
}

// plaintextRun times the same job on the plaintext tables in this process:
// the tables are regenerated (deterministically) into memory first, and
// only the job is timed, as only the job is in the enclave's figure
// besides what confidentiality costs.
func (w *world) plaintextRun(ctx context.Context, c *contract.Contract) (time.Duration, error) {
	var a, b bytes.Buffer
	if _, err := synth.Generate(w.synthConfig(), &a, &b); err != nil {
		return 0, err
	}
	params, err := fraud.ParamsFromJob(c.Job)
	if err != nil {
		return 0, err
	}
	t := time.Now()
	res, err := fraud.Run(ctx, params, fraud.Table{Bank: w.banks[0].prefix, R: &a}, fraud.Table{Bank: w.banks[1].prefix, R: &b})
	if err != nil {
		return 0, err
	}
	for _, b := range w.banks {
		if _, err := policy.Apply(res, c, b.name); err != nil {
			return 0, err
		}
	}
	return time.Since(t), nil
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// fingerprint shortens a root fingerprint for display.
func fingerprint(f [32]byte) []byte { return f[:6] }
