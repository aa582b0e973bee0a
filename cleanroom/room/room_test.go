package room

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/confide-dev/confide/attest/verifier"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/synth"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/tee/sim"
)

// fixture is a clean room outside an enclave: a real attestation service
// (trusting a fresh simulated platform), two banks' published datasets and
// data keys in the key broker, and a signed contract. The enclave's run
// logic (env.run) runs in the test process against it, with evidence from
// the simulated platform for whatever identity a test chooses.
type fixture struct {
	st       *sim.State
	verifier *verifier.Verifier
	svcURL   string
	caPEM    []byte
	admin    *client.Client
	store    dataset.DirStore
	identity image.Identity
	parties  []party
	contract *contract.Contract
	req      *Request
}

type party struct {
	name, prefix, dataset string
	sign                  ed25519.PrivateKey
	result                *ecdh.PrivateKey
	key                   []byte
	digest                dataset.Digest
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: dataset.DirStore{Dir: t.TempDir()}}
	var err error
	if f.st, err = sim.Init(filepath.Join(t.TempDir(), "sim")); err != nil {
		t.Fatal(err)
	}
	f.verifier = verifier.New(verifier.WithSimulated(f.st.RootCertificate(), f.st.Getter(), nil))

	var svc *service.Server
	ts := httptest.NewUnstartedServer(nil)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	f.svcURL = ts.URL
	svc, err = service.New(ctx, service.Options{DataDir: t.TempDir(), Verifier: f.verifier, Issuer: ts.URL,
		AllowSimulated: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ts.Config.Handler = svc
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if f.admin, err = client.New(ts.URL, &client.Options{HTTPClient: ts.Client(), AdminToken: svc.AdminToken()}); err != nil {
		t.Fatal(err)
	}

	rand.Read(f.identity.SignerID[:])
	rand.Read(f.identity.UniqueID[:])
	f.identity.ProductID, f.identity.SecurityVersion = 0xC1, 2

	var bufs [2]bytes.Buffer
	_, err = synth.Generate(synth.Config{Seed: 3, Transactions: 2000, BankA: "BANKA", BankB: "BANKB"}, &bufs[0], &bufs[1])
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []struct{ name, prefix string }{{"bank-a", "BANKA"}, {"bank-b", "BANKB"}} {
		pt := party{name: p.name, prefix: p.prefix, dataset: p.name + "-tx", key: make([]byte, 32)}
		_, pt.sign, _ = ed25519.GenerateKey(rand.Reader)
		pt.result, _ = ecdh.X25519().GenerateKey(rand.Reader)
		rand.Read(pt.key)
		if pt.digest, err = dataset.Publish(ctx, f.store, pt.dataset, &bufs[i], pt.key, dataset.Meta{ID: pt.dataset}); err != nil {
			t.Fatal(err)
		}
		f.parties = append(f.parties, pt)
	}
	f.contract = f.newContract(t, 1, 1)
	f.req = f.storeKeys(t, f.contract)
	return f
}

// newContract returns a signed contract revision over the datasets.
func (f *fixture) newContract(t testing.TB, revision, minSVN uint16, mods ...func(*contract.Contract)) *contract.Contract {
	t.Helper()
	var parties []contract.Party
	var datasets []contract.Dataset
	var recipients []contract.Recipient
	for _, p := range f.parties {
		sk, _ := contract.EncodeSigningKey(p.sign.Public())
		rk, _ := contract.NewResultKey(p.result.PublicKey())
		parties = append(parties, contract.Party{Name: p.name, SigningKey: sk, ResultKey: rk, AccountPrefix: p.prefix})
		datasets = append(datasets, contract.Dataset{ID: p.dataset, Owner: p.name, Digest: hex.EncodeToString(p.digest[:]),
			Schema: []dataset.Column{{Name: "id", Type: "string"}, {Name: "time", Type: "time"}}})
		recipients = append(recipients, contract.Recipient{Party: p.name, Receives: []string{"findings", "aggregates"}})
	}
	c, err := contract.New("test", parties, datasets, contract.Job{Kind: "fraud", Params: map[string]float64{}},
		contract.OutputPolicy{Recipients: recipients, MinGroupSize: 1, Columns: policy.FindingColumns(), ShareExternal: true},
		contract.EnclavePolicy{SignerID: hex.EncodeToString(f.identity.SignerID[:]), ProductID: f.identity.ProductID, MinSecurityVersion: minSVN})
	if err != nil {
		t.Fatal(err)
	}
	c.Revision = int(revision)
	for _, m := range mods {
		m(c)
	}
	for _, p := range f.parties {
		if err := c.Sign(p.name, p.sign); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// storeKeys stores both data keys for c and returns a run request for c.
// The release policy is c's, or pol if given.
func (f *fixture) storeKeys(t testing.TB, c *contract.Contract, pol ...string) *Request {
	t.Helper()
	p0, err := ReleasePolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	pol = append(pol, p0)
	signed, _ := c.Marshal()
	req := &Request{Contract: signed, Service: f.svcURL, ServiceCA: f.caPEM, Secrets: map[string]string{}}
	for _, p := range f.parties {
		name := fmt.Sprintf("%s-r%d-%s", c.ID, c.Revision, p.dataset)
		err := f.admin.Put(context.Background(), "/secrets/"+name, "7.4", service.CreateSecretRequest{
			Value:         SecretValue(p.key),
			ReleasePolicy: &service.ReleasePolicy{ContentType: service.PolicyRego, Data: base64.RawURLEncoding.EncodeToString([]byte(pol[0]))},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Secrets[p.dataset] = name
	}
	return req
}

// env returns a run environment whose evidence is the simulated
// platform's for id, whose ocalls are the host side's own handlers
// (untrusted), and whose network is direct.
func (f *fixture) env(t testing.TB, id image.Identity, store dataset.Store) (env, *untrusted) {
	t.Helper()
	p, err := f.st.Platform(id, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := &untrusted{store: store, outputs: map[string][]byte{}, open: map[string]*openObject{}}
	t.Cleanup(u.closeAll)
	return env{
		quote: p.Quote,
		read: func(ctx context.Context, name string, off uint64, buf []byte) (int, error) {
			n, err := u.HostReadObject(ctx, name, off, buf, uint64(len(buf)))
			return int(n), err
		},
		put: func(ctx context.Context, name string, data []byte) error {
			return u.HostPutOutput(ctx, name, data, uint64(len(data)))
		},
		progress: func(context.Context, string) {},
		dial:     (&net.Dialer{}).DialContext,
	}, u
}

func (f *fixture) marshalReq(t testing.TB, r *Request) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outputs runs the contract as the fixture's enclave and returns the
// outputs.
func (f *fixture) outputs(t testing.TB) map[string][]byte {
	return f.outputsFor(t, f.req)
}

func (f *fixture) outputsFor(t testing.TB, req *Request) map[string][]byte {
	t.Helper()
	e, u := f.env(t, f.identity, f.store)
	if err := e.run(context.Background(), f.marshalReq(t, req)); err != nil {
		t.Fatalf("run = %v", err)
	}
	return u.outputs
}

// swapStore serves one object's bytes under another's name.
type swapStore struct {
	dataset.Store
	from, to string
}

func (s swapStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if name == s.to {
		name = s.from
	}
	return s.Store.Get(ctx, name)
}

// flipStore serves objects with one byte flipped.
type flipStore struct {
	dataset.Store
	at int
}

func (s flipStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[s.at] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.newContract(t, 2, 1) // a revision the keys were not stored for

	otherProduct, oldSVN, debug, otherSigner := f.identity, f.identity, f.identity, f.identity
	otherProduct.ProductID++
	oldSVN.SecurityVersion = 0
	debug.Debug = true
	otherSigner.SignerID[0] ^= 1
	unsigned, _ := contract.Parse(f.req.Contract)
	unsigned.Signatures = unsigned.Signatures[1:]
	tampered, _ := contract.Parse(f.req.Contract)
	tampered.Output.ShareCounterparty = true // changed after signing

	with := func(mod func(r *Request)) *Request {
		r := *f.req
		r.Secrets = map[string]string{}
		for k, v := range f.req.Secrets {
			r.Secrets[k] = v
		}
		mod(&r)
		return &r
	}
	marshal := func(c *contract.Contract) []byte { b, _ := c.Marshal(); return b }
	a, b := f.parties[0].dataset, f.parties[1].dataset

	tests := []struct {
		name  string
		id    image.Identity
		req   *Request
		store dataset.Store
		want  error
	}{
		{"contract's enclave", f.identity, f.req, f.store, nil},
		{"other product", otherProduct, f.req, f.store, ErrKeyRelease},
		{"security version below minimum", oldSVN, f.req, f.store, ErrKeyRelease},
		{"other signer", otherSigner, f.req, f.store, ErrKeyRelease},
		{"debug enclave", debug, f.req, f.store, ErrAttestation},
		{"contract missing a signature", f.identity, with(func(r *Request) { r.Contract = marshal(unsigned) }), f.store, contract.ErrUnsigned},
		{"contract changed after signing", f.identity, with(func(r *Request) { r.Contract = marshal(tampered) }), f.store, contract.ErrBadSignature},
		{"keys stored for another revision", f.identity, with(func(r *Request) { r.Contract = marshal(other) }), f.store, ErrKeyRelease},
		{"secret not named", f.identity, with(func(r *Request) { delete(r.Secrets, a) }), f.store, ErrRequest},
		{"dataset swapped for the other bank's", f.identity, f.req, swapStore{f.store, b, a}, dataset.ErrAuth},
		{"ciphertext byte flipped", f.identity, f.req, flipStore{f.store, 200}, dataset.ErrAuth},
		{"header byte flipped", f.identity, f.req, flipStore{f.store, 20}, dataset.ErrAuth},
		{"plain http service", f.identity, with(func(r *Request) { r.Service = "http://127.0.0.1:1" }), f.store, ErrRequest},
		{"service CA not the service's", f.identity, with(func(r *Request) {
			r.ServiceCA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.st.RootCertificate().Raw})
		}), f.store, ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, u := f.env(t, tt.id, tt.store)
			err := e.run(ctx, f.marshalReq(t, tt.req))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("run = %v; want success", err)
				}
				if len(u.outputs) != 2 {
					t.Fatalf("outputs for %d parties; want 2", len(u.outputs))
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("run = %v; want %v", err, tt.want)
			}
			if len(u.outputs) != 0 {
				t.Errorf("refused run handed out %d outputs", len(u.outputs))
			}
			// The class survives the boundary.
			var reason [maxReason]byte
			st, _ := trusted{env: e}.RoomRun(ctx, f.marshalReq(t, tt.req), 0, reason[:])
			msg, _, _ := bytes.Cut(reason[:], []byte{0})
			if re := (&RunError{Status: st, Reason: string(msg)}); !errors.Is(re, tt.want) || len(msg) == 0 {
				t.Errorf("RoomRun status %d (%q) maps to %v; want %v", st, msg, re.Unwrap(), tt.want)
			}
		})
	}
}

func TestVerifyOutput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	outs := f.outputs(t)
	opts := VerifyOptions{Verifier: f.verifier, AllowSimulated: true}
	c := f.contract
	pa, pb := f.parties[0], f.parties[1]

	parse := func(t *testing.T, name string) *Output {
		o, err := ParseOutput(outs[name])
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, p := range f.parties {
		rel, claims, err := Open(ctx, parse(t, p.name), c, p.name, p.result, opts)
		if err != nil {
			t.Fatalf("Open(%s) = %v", p.name, err)
		}
		if rel.Party != p.name || !claims.Simulated || claims.ProductID != f.identity.ProductID {
			t.Errorf("Open(%s) = %+v, %+v", p.name, rel, claims)
		}
	}

	otherRev := f.newContract(t, 3, 1)
	// Outputs of contracts naming another enclave, made by the fixture's
	// enclave after a key broker released the keys with no conditions:
	// the parties still refuse them.
	allowAll := "package policy\n"
	otherSigner := f.newContract(t, 4, 1, func(c *contract.Contract) { c.Enclave.SignerID = hex.EncodeToString(make([]byte, 32)) })
	highSVN := f.newContract(t, 5, 9)
	wrongEnclave := map[*contract.Contract]map[string][]byte{
		otherSigner: f.outputsFor(t, f.storeKeys(t, otherSigner, allowAll)),
		highSVN:     f.outputsFor(t, f.storeKeys(t, highSVN, allowAll)),
	}

	tests := []struct {
		name  string
		mod   func(o *Output)
		c     *contract.Contract
		party string
		opts  VerifyOptions
		want  error
	}{
		{"signature byte flipped", func(o *Output) { o.Signature[len(o.Signature)-1] ^= 1 }, c, pa.name, opts, ErrOutput},
		{"sealed release changed", func(o *Output) { o.Sealed[len(o.Sealed)-1] ^= 1 }, c, pa.name, opts, ErrOutput},
		{"quote byte flipped", func(o *Output) { o.Quote[100] ^= 1 }, c, pa.name, opts, ErrOutput},
		{"runtime data changed", func(o *Output) { o.RuntimeData = bytes.Replace(o.RuntimeData, []byte(`"enc"`), []byte(`"ENC"`), 1) }, c, pa.name, opts, ErrOutput},
		{"other party's output", func(o *Output) {}, c, pb.name, opts, ErrOutput},
		{"output relabelled for the other party", func(o *Output) { o.Party = pb.name }, c, pb.name, opts, ErrOutput},
		{"another contract revision", func(o *Output) {}, otherRev, pa.name, opts, ErrOutput},
		{"contract names another signer", func(o *Output) {}, otherSigner, pa.name, opts, contract.ErrEnclave},
		{"contract requires a newer enclave", func(o *Output) {}, highSVN, pa.name, opts, contract.ErrEnclave},
		{"simulated evidence not allowed", func(o *Output) {}, c, pa.name, VerifyOptions{Verifier: f.verifier}, ErrOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parse(t, pa.name)
			if w := wrongEnclave[tt.c]; w != nil {
				var err error
				if o, err = ParseOutput(w[pa.name]); err != nil {
					t.Fatal(err)
				}
			}
			tt.mod(o)
			_, err := VerifyOutput(ctx, o, tt.c, tt.party, tt.opts)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrOutput) {
				t.Errorf("VerifyOutput = %v; want %v (and ErrOutput)", err, tt.want)
			}
		})
	}
	t.Run("other party's key", func(t *testing.T) {
		if _, _, err := Open(ctx, parse(t, pa.name), c, pa.name, pb.result, opts); !errors.Is(err, policy.ErrOpen) {
			t.Errorf("Open(with bank-b's key) = %v; want policy.ErrOpen", err)
		}
	})
}

func TestParseRequest(t *testing.T) {
	ok := `{"contract":"e30=","service":"https://s","service_ca":"Y2E=","secrets":{}}`
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"valid", ok, true},
		{"unknown field", `{"contract":"e30=","service":"https://s","service_ca":"Y2E=","secrets":{},"x":1}`, false},
		{"trailing data", ok + `{}`, false},
		{"plain http", `{"contract":"e30=","service":"http://s","service_ca":"Y2E=","secrets":{}}`, false},
		{"no CA", `{"contract":"e30=","service":"https://s","secrets":{}}`, false},
		{"not JSON", `contract`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRequest([]byte(tt.in))
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrRequest)) {
				t.Errorf("parseRequest(%s) = %v; want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for s := statusRequest; s < statusMax; s++ {
		class := statusErrors[s]
		wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", class))
		got := statusOf(wrapped)
		if got != s {
			t.Errorf("statusOf(%v) = %d; want %d", class, got, s)
		}
		if re := (&RunError{Status: got}); !errors.Is(re, class) {
			t.Errorf("RunError{%d} is not %v", got, class)
		}
	}
	if statusOf(errors.New("something else")) != statusFailed {
		t.Errorf("statusOf(unknown) is not statusFailed")
	}
	if re := (&RunError{Status: 999}); !errors.Is(re, ErrFailed) {
		t.Errorf("RunError{999} is not ErrFailed")
	}
	// Most specific first: a policy refusal that also mentions a contract
	// error stays a policy refusal.
	both := errors.Join(policy.ErrOutputPolicy, contract.ErrInvalid)
	if statusOf(both) != statusOutputPolicy {
		t.Errorf("statusOf(policy+contract) = %d; want statusOutputPolicy", statusOf(both))
	}
}

func TestObjectReader(t *testing.T) {
	// The host serves from any offset; reads past the end are empty.
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	os.WriteFile(filepath.Join(dir, "obj"), data, 0o600)
	u := &untrusted{store: dataset.DirStore{Dir: dir}, outputs: map[string][]byte{}, open: map[string]*openObject{}}
	defer u.closeAll()
	var calls int
	e := env{read: func(ctx context.Context, name string, off uint64, buf []byte) (int, error) {
		calls++
		n, err := u.HostReadObject(ctx, name, off, buf, uint64(len(buf)))
		return int(n), err
	}}
	got, err := io.ReadAll(bufio.NewReaderSize(&objectReader{ctx: context.Background(), env: e, name: "obj"}, ReadChunk))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the object", len(got), err)
	}
	if calls > len(data)/ReadChunk+2 {
		t.Errorf("%d ocalls for %d bytes; want about one per %d bytes", calls, len(data), ReadChunk)
	}
	buf := make([]byte, 10)
	if n, _ := u.HostReadObject(context.Background(), "obj", 5, buf, 10); n != 10 || string(buf) != "5678901234" {
		t.Errorf("HostReadObject(offset 5) = %q", buf[:n])
	}
	if _, err := u.HostReadObject(context.Background(), "missing", 0, buf, 10); !errors.Is(err, dataset.ErrNotFound) {
		t.Errorf("HostReadObject(missing) = %v; want ErrNotFound", err)
	}
}

// FuzzParseOutput feeds ParseOutput and VerifyOutput mutations of real
// outputs: nothing but a real output may verify.
func FuzzParseOutput(f *testing.F) {
	fx := newFixture(f)
	outs := fx.outputs(f)
	for _, o := range outs {
		f.Add(o)
	}
	f.Add([]byte(`{"version":1}`))
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOutput(b)
		if err != nil {
			if !errors.Is(err, ErrOutput) {
				t.Fatalf("ParseOutput error %v is not ErrOutput", err)
			}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, err = VerifyOutput(context.Background(), o, fx.contract, o.Party, VerifyOptions{Verifier: fx.verifier, AllowSimulated: true})
		if err == nil && !bytes.Equal(b, outs[o.Party]) {
			// JSON admits other spellings of the same output; the signed
			// content must still be the real one.
			real, _ := ParseOutput(outs[o.Party])
			if !bytes.Equal(o.Sealed, real.Sealed) || !bytes.Equal(o.RuntimeData, real.RuntimeData) {
				t.Fatalf("VerifyOutput accepted an output with other content")
			}
		}
	})
}

// FuzzParseRequest checks that parseRequest never panics and that what it
// accepts re-encodes to a request it accepts again.
func FuzzParseRequest(f *testing.F) {
	fx := newFixture(f)
	b, _ := json.Marshal(fx.req)
	f.Add(b)
	f.Add([]byte(`{"contract":"e30=","service":"https://s","service_ca":"Y2E=","secrets":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		again, _ := json.Marshal(r)
		if _, err := parseRequest(again); err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
	})
}

func TestTrain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	trainJob := func(minGroup int, params map[string]float64) func(*contract.Contract) {
		return func(c *contract.Contract) {
			c.Job = contract.Job{Kind: "train", Params: params}
			c.Output.MinGroupSize = minGroup
			c.Output.Recipients = []contract.Recipient{
				{Party: f.parties[0].name, Receives: []string{"model", "metrics"}},
				{Party: f.parties[1].name, Receives: []string{"metrics"}},
			}
		}
	}
	tests := []struct {
		name string
		mod  func(*contract.Contract)
		want error
	}{
		{"pooled and alone", trainJob(5, map[string]float64{"seed": 3, "epochs": 50}), nil},
		{"groups below the minimum", trainJob(1_000_000, map[string]float64{}), policy.ErrOutputPolicy},
		{"unknown parameter", trainJob(5, map[string]float64{"epoch": 50}), ErrRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.newContract(t, uint16(10+i), 1, tt.mod)
			req := f.storeKeys(t, c)
			e, u := f.env(t, f.identity, f.store)
			err := e.run(ctx, f.marshalReq(t, req))
			if !errors.Is(err, tt.want) {
				t.Fatalf("run = %v; want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			opts := VerifyOptions{Verifier: f.verifier, AllowSimulated: true}
			for i, p := range f.parties {
				out, err := ParseOutput(u.outputs[p.name])
				if err != nil {
					t.Fatal(err)
				}
				rel, err := OpenTrain(ctx, out, c, p.name, p.result, opts)
				if err != nil {
					t.Fatalf("OpenTrain(%s) = %v", p.name, err)
				}
				if (rel.Model != nil) != (i == 0) || rel.Pooled == nil || len(rel.Alone) != 2 || rel.Pooled.Examples == 0 {
					t.Errorf("%s's release = %+v; want the model only for bank-a, metrics for both", p.name, rel)
				}
				if _, err := OpenTrain(ctx, out, c, p.name, f.parties[1-i].result, opts); !errors.Is(err, policy.ErrOpen) {
					t.Errorf("OpenTrain(other key) = %v; want policy.ErrOpen", err)
				}
			}
		})
	}
}
