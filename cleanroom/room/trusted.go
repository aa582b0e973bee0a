package room

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/confide-dev/confide/cleanroom"
	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room/roomcall"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/tee"
)

// ReadChunk is the most the enclave asks the host for in one
// host_read_object ocall.
const ReadChunk = 1 << 20

// Stage names the enclave reports through host_progress, in order.
const (
	StageAttest   = "attest"
	StageRelease  = "release"
	StageRun      = "run"
	StageSeal     = "seal"
	StageFinished = "done"
)

// Ecalls returns the clean-room enclave's ecall table, for enclave.Run in
// a program started by a confide host (the confide binary serves it as a
// built-in enclave).
func Ecalls() enclave.Ecalls {
	return roomcall.Ecalls(trusted{env: enclaveEnv()})
}

// env is what the run needs from its surroundings: inside an enclave, the
// platform, the ocalls and the runtime's network relay.
type env struct {
	quote    func(rd [tee.ReportDataSize]byte) ([]byte, error)
	read     func(ctx context.Context, name string, off uint64, buf []byte) (int, error)
	put      func(ctx context.Context, name string, data []byte) error
	progress func(ctx context.Context, stage string)
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
}

// enclaveEnv is the env of a real enclave.
func enclaveEnv() env {
	return env{
		quote: func(rd [tee.ReportDataSize]byte) ([]byte, error) {
			p, err := enclave.Platform()
			if err != nil {
				return nil, err
			}
			return p.Quote(rd)
		},
		read: func(ctx context.Context, name string, off uint64, buf []byte) (int, error) {
			n, err := roomcall.HostReadObject(ctx, name, off, buf, uint64(len(buf)))
			if err != nil {
				return 0, err
			}
			// The host's count is untrusted.
			if n > uint64(len(buf)) {
				return 0, fmt.Errorf("%w: host returned %d bytes for a %d-byte buffer", enclave.ErrInvalidParameter, n, len(buf))
			}
			return int(n), nil
		},
		put: func(ctx context.Context, name string, data []byte) error {
			return roomcall.HostPutOutput(ctx, name, data, uint64(len(data)))
		},
		progress: func(ctx context.Context, stage string) { _ = roomcall.HostProgress(ctx, stage) },
		dial:     enclave.Dial,
	}
}

// trusted implements roomcall.Trusted.
type trusted struct{ env env }

// RoomRun is room_run().
func (t trusted) RoomRun(ctx context.Context, req []byte, _ uint64, reason []byte) (uint32, error) {
	if err := t.env.run(ctx, req); err != nil {
		msg := err.Error()
		if len(msg) > len(reason)-1 {
			msg = msg[:len(reason)-1]
		}
		copy(reason, msg)
		return statusOf(err), nil
	}
	return statusOK, nil
}

// run is the enclave's whole job: verify the contract, attest, obtain the
// data keys, run the job over the decrypted datasets, and hand out each
// party's signed, sealed release.
func (e env) run(ctx context.Context, reqBytes []byte) error {
	req, err := parseRequest(reqBytes)
	if err != nil {
		return err
	}
	c, err := contract.Parse(req.Contract)
	if err != nil {
		return err
	}
	if err := c.Verify(); err != nil {
		return err
	}
	if c.Job.Kind != "fraud" && c.Job.Kind != "train" {
		return fmt.Errorf("%w: job kind %q is not run by this enclave", ErrRequest, c.Job.Kind)
	}
	hash, err := c.Hash()
	if err != nil {
		return err
	}

	// Ephemeral keys, bound into the evidence through the runtime data.
	encKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	sigKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	runtime, err := json.Marshal(RuntimeData{
		Keys: []jose.JSONWebKey{
			{Key: &encKey.PublicKey, KeyID: "enc", Use: "enc"},
			{Key: &sigKey.PublicKey, KeyID: "sig", Use: "sig", Algorithm: "ES256"},
		},
		ContractHash: hex.EncodeToString(hash[:]),
	})
	if err != nil {
		return err
	}
	var rd [tee.ReportDataSize]byte
	h := sha256.Sum256(runtime)
	copy(rd[:], h[:])

	e.progress(ctx, StageAttest)
	quote, err := e.quote(rd)
	if err != nil {
		return fmt.Errorf("room: quote: %w", err)
	}
	cl, err := e.client(req)
	if err != nil {
		return err
	}
	nonce, err := cl.Nonce(ctx)
	if err != nil {
		return classify(err, ErrAttestation)
	}
	token, err := cl.Attest(ctx, "SgxEnclave", quote, runtime, nonce)
	if err != nil {
		return classify(err, ErrAttestation)
	}
	certs, err := cl.Certs(ctx)
	if err != nil {
		return classify(err, ErrAttestation)
	}

	e.progress(ctx, StageRelease)
	inputs := map[string]cleanroom.Input{}
	for _, d := range c.Datasets {
		name, ok := req.Secrets[d.ID]
		if !ok {
			return fmt.Errorf("%w: no secret named for dataset %q", ErrRequest, d.ID)
		}
		v, err := cl.ReleaseSecret(ctx, name, token)
		if err != nil {
			return classify(err, ErrKeyRelease)
		}
		wrapped, err := client.Unwrap(v, certs, encKey)
		if err != nil {
			return fmt.Errorf("%w: dataset %q: %v", ErrKeyRelease, d.ID, err)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(string(wrapped))
		clear(wrapped)
		if err != nil || len(key) != dataset.KeySize {
			return fmt.Errorf("%w: dataset %q: released secret is not a base64 data key", ErrKeyRelease, d.ID)
		}
		defer clear(key)
		obj := d.ID
		if o, ok := req.Objects[d.ID]; ok {
			obj = o
		}
		inputs[d.ID] = cleanroom.Input{Ciphertext: bufio.NewReaderSize(&objectReader{ctx: ctx, env: e, name: obj}, ReadChunk), Key: key}
	}

	e.progress(ctx, StageRun)
	sealers := map[string]func() ([]byte, error){}
	if c.Job.Kind == "train" {
		rels, err := executeTrain(ctx, c, inputs)
		if err != nil {
			return err
		}
		for p, rel := range rels {
			sealers[p] = func() ([]byte, error) { return sealJSON(rel, c, p) }
		}
	} else {
		rels, err := cleanroom.ExecuteFraud(ctx, c, inputs)
		if err != nil {
			return err
		}
		for p, rel := range rels {
			sealers[p] = func() ([]byte, error) { return policy.Seal(rel, c) }
		}
	}

	e.progress(ctx, StageSeal)
	type named struct {
		name string
		data []byte
	}
	var outs []named
	for _, r := range c.Output.Recipients {
		seal, ok := sealers[r.Party]
		if !ok {
			continue
		}
		sealed, err := seal()
		if err != nil {
			return err
		}
		d := sha256.Sum256(SignedOutputMessage(hash, r.Party, sealed))
		sig, err := ecdsa.SignASN1(rand.Reader, sigKey, d[:])
		if err != nil {
			return err
		}
		out, err := json.Marshal(Output{
			Version: OutputVersion, Party: r.Party, ContractHash: hex.EncodeToString(hash[:]),
			Sealed: sealed, Quote: quote, RuntimeData: runtime, Token: token, Signature: sig,
		})
		if err != nil {
			return err
		}
		outs = append(outs, named{r.Party, out})
	}
	// Every output is made before any leaves.
	for _, o := range outs {
		if err := e.put(ctx, o.name, o.data); err != nil {
			return err
		}
	}
	e.progress(ctx, StageFinished)
	return nil
}

// client returns a service client whose connections go through the host's
// relay with TLS ending in the enclave.
func (e env) client(req *Request) (*client.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(req.ServiceCA) {
		return nil, fmt.Errorf("%w: service CA holds no certificate", ErrRequest)
	}
	hc := &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			DialContext:     e.dial,
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		},
	}
	cl, err := client.New(req.Service, &client.Options{HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	return cl, nil
}

// classify maps a client error to the room's error classes: unreachable
// service, or a refusal of class as.
func classify(err error, as error) error {
	if errors.Is(err, client.ErrNetwork) {
		return fmt.Errorf("%w: %v", ErrNetwork, err)
	}
	return fmt.Errorf("%w: %v", as, err)
}

// objectReader reads a stored object through host_read_object. What it
// reads is ciphertext; the dataset layer authenticates it.
type objectReader struct {
	ctx  context.Context
	env  env
	name string
	off  uint64
	eof  bool
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.eof {
		return 0, io.EOF
	}
	if len(p) > ReadChunk {
		p = p[:ReadChunk]
	}
	n, err := r.env.read(r.ctx, r.name, r.off, p)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		r.eof = true
		return 0, io.EOF
	}
	r.off += uint64(n)
	return n, nil
}
