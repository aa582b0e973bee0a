package demo

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/fraud"
	"github.com/confide-dev/confide/cleanroom/ledger"
	"github.com/confide-dev/confide/cleanroom/policy"
	"github.com/confide-dev/confide/cleanroom/room"
	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/image"
)

// Negative check names, in the order Run attempts them.
const (
	CheckModifiedEnclave     = "modified_enclave"
	CheckDebugEnclave        = "debug_enclave"
	CheckUnsignedContract    = "unsigned_contract"
	CheckRawRows             = "output_raw_rows"
	CheckSmallGroups         = "output_small_groups"
	CheckReplayedAttestation = "replayed_attestation"
	CheckReplayedToken       = "replayed_token"
	CheckOutputSignature     = "output_bad_signature"
	CheckOutputEvidence      = "output_bad_evidence"
)

// negative attempts everything that must be refused. Each check returns
// the refusal, or nil if it got through.
func (w *world) negative(ctx context.Context, c *contract.Contract, req *room.Request, outs map[string][]byte) []Check {
	checks := []struct {
		name string
		f    func() error
	}{
		{CheckModifiedEnclave, func() error { return w.modifiedEnclave(ctx, req) }},
		{CheckDebugEnclave, func() error { return w.debugEnclave(ctx, req) }},
		{CheckUnsignedContract, func() error { return w.unsignedContract(ctx, c, req) }},
		{CheckRawRows, func() error { return w.rawRows(c) }},
		{CheckSmallGroups, func() error { return w.smallGroups(ctx, c) }},
		{CheckReplayedAttestation, func() error { return w.replayedAttestation(ctx, outs) }},
		{CheckReplayedToken, func() error { return w.replayedToken(ctx, outs, req) }},
		{CheckOutputSignature, func() error { return w.tamperedOutput(ctx, c, outs, false) }},
		{CheckOutputEvidence, func() error { return w.tamperedOutput(ctx, c, outs, true) }},
	}
	var res []Check
	for _, ch := range checks {
		res = append(res, Check{Name: ch.name, Err: ch.f()})
	}
	return res
}

// modifiedEnclave flips one byte of the signed enclave's code: the host
// refuses to load it (image.ErrSignature).
func (w *world) modifiedEnclave(ctx context.Context, req *room.Request) error {
	data, err := os.ReadFile(w.image)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	img, err := image.Open(data)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	data[img.BinarySize/2] ^= 0x01
	path := filepath.Join(w.cfg.Dir, "modified.signed")
	if err := os.WriteFile(path, data, 0o700); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer os.Remove(path)
	_, err = room.Run(ctx, path, req, w.roomOptions(false, nil, nil))
	return err
}

// debugEnclave signs the same program as a debug enclave with the same key:
// it loads (the host allows debug), but the attestation service's policy
// refuses a debuggable enclave, so no key is released (room.ErrAttestation).
func (w *world) debugEnclave(ctx context.Context, req *room.Request) error {
	cfg := w.imgCfg
	cfg.Debug = true
	path, cleanup, err := w.cfg.Sign(cfg, w.opKey)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer cleanup()
	_, err = room.Run(ctx, path, req, w.roomOptions(true, nil, nil))
	return err
}

// unsignedContract hands the enclave the contract with one bank's
// signature removed (contract.ErrUnsigned).
func (w *world) unsignedContract(ctx context.Context, c *contract.Contract, req *room.Request) error {
	partial, err := contract.Parse(mustMarshal(c))
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	partial.Signatures = partial.Signatures[:1]
	r := *req
	r.Contract = mustMarshal(partial)
	_, err = room.Run(ctx, w.image, &r, w.roomOptions(false, nil, nil))
	return err
}

// rawRows asks the output policy the enclave applies to release a result
// that carries one of the other bank's raw transactions
// (policy.ErrOutputPolicy). The fraud job never emits rows, so this check
// calls the enclave's policy code directly, on a result holding one row.
func (w *world) rawRows(c *contract.Contract) error {
	a, b := w.banks[0], w.banks[1]
	res := &fraud.Result{Rows: []ledger.Transaction{{ID: "t1", Time: 1, From: b.prefix + "-1", To: b.prefix + "-2", Amount: 100, Currency: "EUR", Channel: "transfer"}}}
	_, err := policy.Apply(res, c, a.name)
	return err
}

// smallGroups runs a second contract revision whose minimum group size no
// aggregate reaches: both banks sign it and store their keys for it, the
// enclave runs the job, and the output policy refuses the whole output
// (policy.ErrOutputPolicy).
func (w *world) smallGroups(ctx context.Context, c *contract.Contract) error {
	c2, err := w.agree(ctx, c.Job.Kind, c.ID, c.Revision+1, 1_000_000_000)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	req, err := w.storeKeys(ctx, c2)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	_, err = room.Run(ctx, w.image, req, w.roomOptions(false, nil, nil))
	return err
}

// replayedAttestation replays the enclave's attestation (its quote, runtime
// data and nonce, as carried by its output and token) to obtain a new
// token: the nonce was consumed, so the service refuses.
func (w *world) replayedAttestation(ctx context.Context, outs map[string][]byte) error {
	out, err := room.ParseOutput(outs[w.banks[0].name])
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	nonce, err := tokenNonce(out.Token)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	_, err = w.admin.Attest(ctx, "SgxEnclave", out.Quote, out.RuntimeData, nonce)
	return err
}

// replayedToken presents the enclave's token to the key broker as someone
// else would: the broker releases only to the key in the token, so the
// replayer cannot unwrap what it gets.
func (w *world) replayedToken(ctx context.Context, outs map[string][]byte, req *room.Request) error {
	out, err := room.ParseOutput(outs[w.banks[0].name])
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	v, err := w.admin.ReleaseSecret(ctx, req.Secrets[w.banks[0].dataset], out.Token)
	if err != nil {
		return err
	}
	mine, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	certs, err := w.admin.Certs(ctx)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	k, err := client.Unwrap(v, certs, mine)
	if err != nil {
		return fmt.Errorf("%w: the key broker wrapped the key to the enclave's ephemeral key: %w", ErrReplayed, err)
	}
	clear(k)
	return nil
}

// ErrReplayed is the class of the replayed-token refusal: a token used by
// someone other than the enclave it was issued to yields nothing usable.
var ErrReplayed = errors.New("demo: replayed token yields no key")

// tamperedOutput changes one bank's output, either a byte of its signature
// or a byte of its evidence, and has the bank verify it (room.ErrOutput).
func (w *world) tamperedOutput(ctx context.Context, c *contract.Contract, outs map[string][]byte, evidence bool) error {
	b := w.banks[1]
	out, err := room.ParseOutput(outs[b.name])
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if evidence {
		// A byte inside the report body (the enclave's measurement).
		out.Quote = bytes.Clone(out.Quote)
		out.Quote[48+64] ^= 0x01
	} else {
		out.Signature = bytes.Clone(out.Signature)
		out.Signature[len(out.Signature)-1] ^= 0x01
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	_, _, err = w.open(ctx, map[string][]byte{b.name: raw}, c, b)
	return err
}

// tokenNonce reads the nonce claim of a token without verifying it (the
// replay does not need it verified; the service verifies everything).
func tokenNonce(token string) (string, error) {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", err
	}
	var cl struct {
		Nonce string `json:"nonce"`
	}
	if err := t.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return "", err
	}
	if strings.TrimSpace(cl.Nonce) == "" {
		return "", errors.New("token carries no nonce")
	}
	return cl.Nonce, nil
}
