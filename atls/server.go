package atls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Certificate extension OIDs.
var (
	// OIDTaggedEvidence is TCG DICE tcg-dice-conceptual-message-wrapper
	// (formerly tagged evidence), 2.23.133.5.4.9: the extension value is
	// tagged CBOR evidence (see ParseEvidence).
	OIDTaggedEvidence = asn1.ObjectIdentifier{2, 23, 133, 5, 4, 9}
	// OIDOpenEnclaveEvidence is Open Enclave's attested TLS evidence
	// extension, 1.3.6.1.4.1.311.105.2 (see ParseOpenEnclaveEvidence).
	OIDOpenEnclaveEvidence = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 105, 2}
)

// Attester makes evidence binding 64 bytes of report data: a quote.
// tee.Platform implementations satisfy it.
type Attester interface {
	Quote(reportData [64]byte) ([]byte, error)
}

// Server configures the attested side of a connection.
type Server struct {
	// Attester makes the evidence. It is required.
	Attester Attester
	// CommonName is the certificate's subject common name. Empty means
	// "confide attested TLS".
	CommonName string
	// DNSNames are the certificate's DNS subject alternative names. Nil
	// means none: clients do not check names, the evidence is the identity.
	DNSNames []string
	// OpenEnclave adds Open Enclave's evidence extension (a second quote)
	// for Open Enclave clients. Zero means only the TCG DICE extension.
	OpenEnclave bool
	// Validity is how long the certificate is valid. Zero means 24 hours.
	Validity time.Duration
	// Now returns the time the certificate starts. Nil means time.Now.
	Now func() time.Time
	// Rand is the source of the key, serial number and signatures. Nil
	// means crypto/rand.
	Rand io.Reader
	// ClientAuth, if not nil, makes the attestation mutual: the server asks
	// clients for a certificate and accepts a client only if that
	// certificate's evidence passes ClientAuth's verifier and appraisal
	// (see Client.VerifyCertificate; ClientAuth.Identity is not used), and,
	// on connections run by Listen or Handshake, only if the client's
	// connection evidence does too. Nil means clients are not asked for a
	// certificate.
	ClientAuth *Client
}

// Identity is a fresh key with its attested certificate, made by
// NewIdentity. It is safe for concurrent use.
type Identity struct {
	cert     tls.Certificate
	spki     []byte
	attester Attester
	clients  *Client // Server.ClientAuth
}

// NewIdentity makes a fresh ECDSA P-256 key and a self-signed certificate
// for it whose extensions carry evidence binding the key. A server uses it
// with Config, Listen or Handshake; a client in mutual attested TLS gives
// it as Client.Identity.
func NewIdentity(ctx context.Context, s Server) (*Identity, error) {
	if s.Attester == nil {
		return nil, fmt.Errorf("atls: server has no attester")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	validity := s.Validity
	if validity == 0 {
		validity = 24 * time.Hour
	}
	cn := s.CommonName
	if cn == "" {
		cn = "confide attested TLS"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return nil, fmt.Errorf("atls: key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("atls: key: %w", err)
	}
	ev, err := makeEvidence(s.Attester, spki, nil)
	if err != nil {
		return nil, err
	}
	exts := []pkix.Extension{{Id: OIDTaggedEvidence, Value: ev}}
	if s.OpenEnclave {
		claims := oeClaims(spki)
		q, err := s.Attester.Quote(reportData(claims))
		if err != nil {
			return nil, fmt.Errorf("atls: quote: %w", err)
		}
		exts = append(exts, pkix.Extension{Id: OIDOpenEnclaveEvidence, Value: marshalOpenEnclave(q, claims)})
	}
	serial, err := rand.Int(r, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("atls: serial: %w", err)
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              s.DNSNames,
		NotBefore:             t.Add(-time.Minute),
		NotAfter:              t.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		ExtraExtensions:       exts,
	}
	der, err := x509.CreateCertificate(r, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("atls: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("atls: certificate: %w", err)
	}
	id := &Identity{
		cert:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		spki:     spki,
		attester: s.Attester,
	}
	if s.ClientAuth != nil {
		c := *s.ClientAuth
		c.Identity = nil
		id.clients = &c
	}
	return id, nil
}

// Certificate returns the identity's certificate and key for a tls.Config.
func (id *Identity) Certificate() tls.Certificate { return id.cert }

// Config returns a TLS 1.3 server configuration presenting the identity's
// certificate and, with Server.ClientAuth, asking for and checking an
// attested client certificate on every connection, resumed ones included.
// Used alone, it serves clients that check only the certificate's
// evidence; Listen and Handshake add per-connection evidence.
func (id *Identity) Config() *tls.Config { return id.config(nil) }

// config returns the server configuration, recording what it learns of
// the client's certificate in p if p is not nil.
func (id *Identity) config(p *peer) *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{id.cert},
		MinVersion:   tls.VersionTLS13,
	}
	if id.clients != nil {
		// Request rather than require a certificate, so that a client
		// without one is refused by the evidence check with ErrNoEvidence.
		cfg.ClientAuth = tls.RequestClientCert
		cfg.VerifyConnection = id.clients.verifyConnection(p)
	}
	return cfg
}

// ServerConfig makes a fresh identity (see NewIdentity) and returns its
// server configuration (see Identity.Config).
func ServerConfig(ctx context.Context, s Server) (*tls.Config, error) {
	id, err := NewIdentity(ctx, s)
	if err != nil {
		return nil, err
	}
	return id.Config(), nil
}
