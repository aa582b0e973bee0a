package atls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/attest/tdx"
)

// Verifier verifies evidence (a quote) and returns its claims.
type Verifier interface {
	Verify(ctx context.Context, evidence []byte) (*attest.Claims, error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, evidence []byte) (*attest.Claims, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, evidence []byte) (*attest.Claims, error) {
	return f(ctx, evidence)
}

// SGX returns a Verifier of SGX quotes with opts (see sgx.Verify). Give
// opts a Cache to verify collateral once rather than on every handshake.
func SGX(opts sgx.Options) Verifier {
	return VerifierFunc(func(ctx context.Context, q []byte) (*attest.Claims, error) {
		return sgx.Verify(ctx, q, opts)
	})
}

// TDX returns a Verifier of TDX quotes with opts (see tdx.Verify).
func TDX(opts tdx.Options) Verifier {
	return VerifierFunc(func(ctx context.Context, q []byte) (*attest.Claims, error) {
		return tdx.Verify(ctx, q, opts)
	})
}

// DCAP quote header fields that tell an SGX quote from a TDX one (Intel
// TDX DCAP Quote Generation Library and Quote Verification Library API,
// "Quote Header": u16 version, u16 attestation key type, u32 TEE type).
const (
	quoteOffTEEType = 4
	quoteTEETypeTDX = 0x00000081
)

// Intel returns a Verifier of the quotes CBOR tag 60000 names, SGX and TDX
// alike: a quote whose header says TDX goes to tdx.Verify with t, any
// other to sgx.Verify with s, which refuses what it cannot parse.
func Intel(s sgx.Options, t tdx.Options) Verifier {
	return VerifierFunc(func(ctx context.Context, q []byte) (*attest.Claims, error) {
		if len(q) >= quoteOffTEEType+4 && binary.LittleEndian.Uint32(q[quoteOffTEEType:]) == quoteTEETypeTDX {
			return tdx.Verify(ctx, q, t)
		}
		return sgx.Verify(ctx, q, s)
	})
}

// Client configures the verifying side of a connection: a TLS client
// checking a server, or, as Server.ClientAuth, a server checking its
// clients.
type Client struct {
	// Verifier verifies the peer's quotes. It is required.
	Verifier Verifier
	// Appraise decides whether verified claims are acceptable; an error
	// refuses the peer. Nil means the default attest.Policy, which refuses
	// debug and simulated enclaves.
	Appraise func(*attest.Claims) error
	// Identity, if not nil, is the client's own attested identity,
	// presented when a server asks for a client certificate (mutual
	// attested TLS; see Server.ClientAuth). Handshake then also sends
	// connection evidence for it. Nil means the client presents no
	// certificate. It is not used by Server.ClientAuth.
	Identity *Identity
}

// VerifyCertificate checks the evidence in cert: that it binds the
// certificate's public key, that its quote verifies, and that Appraise
// accepts the claims, which it returns. The TCG DICE extension is used
// when present, else Open Enclave's. The certificate's own signature,
// names and validity are not checked: the evidence is what is trusted.
func (c Client) VerifyCertificate(ctx context.Context, cert *x509.Certificate) (*attest.Claims, error) {
	var dice, oe []byte
	var nd, no int
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(OIDTaggedEvidence):
			dice, nd = ext.Value, nd+1
		case ext.Id.Equal(OIDOpenEnclaveEvidence):
			oe, no = ext.Value, no+1
		}
	}
	if nd > 1 || no > 1 {
		return nil, malformed("certificate has repeated evidence extensions")
	}
	spki := cert.RawSubjectPublicKeyInfo
	switch {
	case nd == 1:
		ev, err := ParseEvidence(dice)
		if err != nil {
			return nil, fmt.Errorf("atls: certificate evidence: %w", err)
		}
		if err := ev.checkKey(spki); err != nil {
			return nil, fmt.Errorf("atls: certificate evidence: %w", err)
		}
		return c.verify(ctx, "certificate evidence", ev.Quote, ev.Claims)
	case no == 1:
		ev, err := ParseOpenEnclaveEvidence(oe)
		if err != nil {
			return nil, fmt.Errorf("atls: certificate evidence: %w", err)
		}
		if err := ev.checkKey(spki); err != nil {
			return nil, fmt.Errorf("atls: certificate evidence: %w", err)
		}
		return c.verify(ctx, "certificate Open Enclave evidence", ev.Quote, ev.Claims)
	}
	return nil, fmt.Errorf("%w: certificate has neither the TCG DICE (%v) nor the Open Enclave (%v) evidence extension",
		ErrNoEvidence, OIDTaggedEvidence, OIDOpenEnclaveEvidence)
}

// verify verifies quote, checks that its report data binds claims, and
// appraises the result.
func (c Client) verify(ctx context.Context, what string, quote, claims []byte) (*attest.Claims, error) {
	if c.Verifier == nil {
		return nil, fmt.Errorf("atls: client has no verifier")
	}
	cl, err := c.Verifier.Verify(ctx, quote)
	if err != nil {
		return nil, fmt.Errorf("atls: %s: %w", what, err)
	}
	if cl == nil {
		return nil, fmt.Errorf("atls: %s: verifier returned no claims", what)
	}
	if err := checkReportData(cl, claims); err != nil {
		return nil, fmt.Errorf("atls: %s: %w", what, err)
	}
	appraise := c.Appraise
	if appraise == nil {
		appraise = attest.Policy{}.Check
	}
	if err := appraise(cl); err != nil {
		if errors.Is(err, attest.ErrPolicy) {
			return nil, fmt.Errorf("atls: %s: %w", what, err)
		}
		return nil, fmt.Errorf("atls: %s: %w: %w", what, attest.ErrPolicy, err)
	}
	return cl, nil
}

// peer records what the certificate check learned during one handshake.
type peer struct {
	// ctx is the handshake's context, used by the certificate check.
	ctx    context.Context
	cert   *x509.Certificate
	claims *attest.Claims
	// requested records that the server asked for a client certificate.
	requested bool
}

// verifyConnection returns a tls.Config.VerifyConnection function that
// checks the peer certificate's evidence, recording the result in p if p
// is not nil. VerifyConnection, unlike VerifyPeerCertificate, also runs
// when a session is resumed, so a resumed connection is checked too.
func (c Client) verifyConnection(p *peer) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: peer sent no certificate", ErrNoEvidence)
		}
		ctx := context.Background()
		if p != nil && p.ctx != nil {
			ctx = p.ctx
		}
		cert := cs.PeerCertificates[0]
		claims, err := c.VerifyCertificate(ctx, cert)
		if err != nil {
			return err
		}
		if p != nil {
			p.cert, p.claims = cert, claims
		}
		return nil
	}
}

// config returns the TLS configuration that checks the server
// certificate's evidence, recording the result in p if not nil, and
// presents c.Identity's certificate when the server asks for one.
func (c Client) config(p *peer) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The certificate is self-signed: its evidence, checked by
		// VerifyConnection, replaces the chain to a CA.
		InsecureSkipVerify: true,
		VerifyConnection:   c.verifyConnection(p),
	}
	switch {
	case c.Identity != nil:
		cert := c.Identity.cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if p != nil {
				p.requested = true
			}
			return &cert, nil
		}
	case p != nil:
		// An attested TLS server asks for a certificate only when it
		// requires an attested one: fail here, with a clear error, rather
		// than be refused by the server.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return nil, fmt.Errorf("%w: the server asks for an attested client certificate and the client has no Identity", ErrNoEvidence)
		}
	}
	return cfg
}

// ClientConfig returns a TLS 1.3 client configuration that accepts a
// server only if its certificate's evidence verifies and is appraised
// (see Client.VerifyCertificate), on every connection including resumed
// ones, and that presents c.Identity's certificate if the server asks for
// one. It checks no per-connection freshness: use Client.Handshake or Dial
// for that.
func ClientConfig(c Client) *tls.Config { return c.config(nil) }

// sameEnclave reports whether two sets of claims describe the same
// enclave, or the same trust domain: for a TD also its configuration, owner
// and the boot-time registers RTMR0 (firmware) and RTMR1 (boot loader and
// kernel); RTMR2 and RTMR3 may be extended while the TD runs.
func sameEnclave(a, b *attest.Claims) bool {
	if a.TEE != b.TEE || !bytes.Equal(a.UniqueID, b.UniqueID) || !bytes.Equal(a.SignerID, b.SignerID) ||
		a.ProductID != b.ProductID || a.SecurityVersion != b.SecurityVersion || a.Debug != b.Debug {
		return false
	}
	if (a.TDX == nil) != (b.TDX == nil) {
		return false
	}
	if a.TDX == nil {
		return true
	}
	x, y := a.TDX, b.TDX
	return bytes.Equal(x.MRConfigID, y.MRConfigID) && bytes.Equal(x.MROwner, y.MROwner) &&
		bytes.Equal(x.MROwnerCfg, y.MROwnerCfg) && bytes.Equal(x.TDAttributes, y.TDAttributes) &&
		bytes.Equal(x.RTMR[0], y.RTMR[0]) && bytes.Equal(x.RTMR[1], y.RTMR[1])
}
