package atls

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/confide-dev/confide/attest"
)

// Exporter labels (RFC 8446 §7.5). The 32-byte exporter value under a
// label, with no context, is the nonce of one side's connection evidence:
// ExporterLabel for the server's, ClientExporterLabel for the client's in
// mutual attested TLS. Distinct labels keep evidence from being reflected
// back to the side that made it.
const (
	ExporterLabel       = "EXPORTER-confide-atls-v1"
	ClientExporterLabel = "EXPORTER-confide-atls-v1-client"
)

// exporterSize is the length of the exporter value.
const exporterSize = 32

// The evidence frame the server sends after the handshake: magic, version,
// big-endian length, then tagged evidence.
const (
	frameMagic   = "ATLS"
	frameVersion = 1
	frameHeader  = 9
)

// exporter returns the connection's exporter value under label.
func exporter(cs tls.ConnectionState, label string) ([]byte, error) {
	if cs.Version != tls.VersionTLS13 {
		return nil, fmt.Errorf("atls: TLS version %#04x; attested TLS needs TLS 1.3", cs.Version)
	}
	return cs.ExportKeyingMaterial(label, nil, exporterSize)
}

// deadline applies ctx to conn for the duration of one exchange: its
// deadline if any, and an immediate deadline when ctx is cancelled. The
// returned function undoes it.
func deadline(ctx context.Context, conn net.Conn) func() {
	d, ok := ctx.Deadline()
	if ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if stop() && ok {
			conn.SetDeadline(time.Time{})
		}
	}
}

// ctxErr adds ctx's error to an I/O error that ctx caused. The connection
// deadline set from ctx may fire just before ctx itself expires.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return errors.Join(err, cerr)
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return errors.Join(err, context.DeadlineExceeded)
	}
	return err
}

// sendEvidence sends, on a connection whose handshake is done, a frame
// with evidence from a binding spki and the exporter value under label.
func sendEvidence(ctx context.Context, conn *tls.Conn, a Attester, spki []byte, label string) error {
	ekm, err := exporter(conn.ConnectionState(), label)
	if err != nil {
		return err
	}
	ev, err := makeEvidence(a, spki, ekm)
	if err != nil {
		return err
	}
	frame := make([]byte, frameHeader, frameHeader+len(ev))
	copy(frame, frameMagic)
	frame[4] = frameVersion
	binary.BigEndian.PutUint32(frame[5:], uint32(len(ev)))
	frame = append(frame, ev...)
	undo := deadline(ctx, conn)
	defer undo()
	if _, err := conn.Write(frame); err != nil {
		return ctxErr(ctx, fmt.Errorf("atls: sending connection evidence: %w", err))
	}
	return nil
}

// readEvidence reads the peer's connection evidence frame and checks it:
// it must bind the key of the certificate recorded in p and the exporter
// value under label, verify, be appraised and come from the same enclave
// as the certificate.
func (c Client) readEvidence(ctx context.Context, conn *tls.Conn, p *peer, label string) (*attest.Claims, error) {
	if p.cert == nil || p.claims == nil {
		// Unreachable: VerifyConnection ran in the handshake.
		return nil, fmt.Errorf("%w: peer certificate was not checked", ErrNoEvidence)
	}
	ekm, err := exporter(conn.ConnectionState(), label)
	if err != nil {
		return nil, err
	}
	body, err := readFrame(ctx, conn)
	if err != nil {
		return nil, err
	}
	ev, err := ParseEvidence(body)
	if err != nil {
		return nil, fmt.Errorf("atls: connection evidence: %w", err)
	}
	if err := ev.checkKey(p.cert.RawSubjectPublicKeyInfo); err != nil {
		return nil, fmt.Errorf("atls: connection evidence: %w", err)
	}
	if ev.Nonce == nil {
		return nil, fmt.Errorf("%w: connection evidence has no nonce", ErrReplay)
	}
	if subtle.ConstantTimeCompare(ev.Nonce, ekm) != 1 {
		return nil, fmt.Errorf("%w: nonce %x is not this connection's exporter value", ErrReplay, ev.Nonce)
	}
	claims, err := c.verify(ctx, "connection evidence", ev.Quote, ev.Claims)
	if err != nil {
		return nil, err
	}
	if !sameEnclave(claims, p.claims) {
		return nil, fmt.Errorf("%w: connection evidence comes from enclave %x, the certificate's from %x",
			ErrKeyBinding, []byte(claims.UniqueID), []byte(p.claims.UniqueID))
	}
	return claims, nil
}

// Handshake runs the server side of attested TLS on conn: the TLS
// handshake with the identity's certificate, then the evidence for this
// connection (see spec/atls.md). With Server.ClientAuth it also checks the
// client's certificate and then reads and checks the client's connection
// evidence, whose claims it returns; without, the claims are nil. It
// returns the TLS connection, ready for application data. On error conn
// is closed.
func (id *Identity) Handshake(ctx context.Context, conn net.Conn) (*tls.Conn, *attest.Claims, error) {
	p := &peer{}
	tc := tls.Server(conn, id.config(p))
	claims, err := id.handshake(ctx, tc, p)
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	return tc, claims, nil
}

func (id *Identity) handshake(ctx context.Context, tc *tls.Conn, p *peer) (*attest.Claims, error) {
	p.ctx = ctx
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	if err := sendEvidence(ctx, tc, id.attester, id.spki, ExporterLabel); err != nil {
		return nil, err
	}
	if id.clients == nil {
		return nil, nil
	}
	return id.clients.readEvidence(ctx, tc, p, ClientExporterLabel)
}

// Listen returns a listener whose connections are attested TLS server
// connections of the identity (see Conn).
func (id *Identity) Listen(inner net.Listener) net.Listener { return &listener{inner, id} }

type listener struct {
	net.Listener
	id *Identity
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	p := &peer{}
	return &Conn{Conn: tls.Server(c, l.id.config(p)), id: l.id, p: p}, nil
}

// Conn is a server connection accepted by Identity.Listen. It runs the
// attested handshake (see Identity.Handshake) before the first Read or
// Write.
type Conn struct {
	*tls.Conn
	id     *Identity
	p      *peer
	once   sync.Once
	err    error
	claims *attest.Claims
}

// HandshakeContext runs the attested handshake, once.
func (c *Conn) HandshakeContext(ctx context.Context) error {
	c.once.Do(func() { c.claims, c.err = c.id.handshake(ctx, c.Conn, c.p) })
	return c.err
}

// Handshake runs the attested handshake, once.
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// PeerClaims returns the claims of the client's connection evidence once
// the handshake has succeeded with Server.ClientAuth, else nil.
func (c *Conn) PeerClaims() *attest.Claims {
	if c.Handshake() != nil {
		return nil
	}
	return c.claims
}

// Read reads application data after the handshake.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write writes application data after the handshake.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Handshake runs the client side of attested TLS on conn: the TLS
// handshake, checking the server certificate's evidence, then the server's
// evidence for this connection, which must bind the certificate's key and
// this connection's exporter value, come from the same enclave and be
// appraised. If the server asked for a client certificate, c.Identity's
// was presented and its connection evidence is sent next. Handshake
// returns the TLS connection, ready for application data, and the claims
// of the server's connection evidence. On error conn is closed.
func (c Client) Handshake(ctx context.Context, conn net.Conn) (*tls.Conn, *attest.Claims, error) {
	p := &peer{ctx: ctx}
	tc := tls.Client(conn, c.config(p))
	claims, err := c.handshake(ctx, tc, p)
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	return tc, claims, nil
}

func (c Client) handshake(ctx context.Context, tc *tls.Conn, p *peer) (*attest.Claims, error) {
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	claims, err := c.readEvidence(ctx, tc, p, ExporterLabel)
	if err != nil {
		return nil, err
	}
	if p.requested {
		if err := sendEvidence(ctx, tc, c.Identity.attester, c.Identity.spki, ClientExporterLabel); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// readFrame reads the peer's evidence frame.
func readFrame(ctx context.Context, conn net.Conn) ([]byte, error) {
	undo := deadline(ctx, conn)
	defer undo()
	var h [frameHeader]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: connection closed before the connection evidence", ErrNoEvidence)
		}
		return nil, ctxErr(ctx, fmt.Errorf("atls: reading connection evidence: %w", err))
	}
	if !bytes.Equal(h[:4], []byte(frameMagic)) || h[4] != frameVersion {
		return nil, malformed("evidence frame header %x; want %q version %d", h[:5], frameMagic, frameVersion)
	}
	n := binary.BigEndian.Uint32(h[5:])
	if n > MaxEvidenceSize {
		return nil, malformed("evidence frame of %d bytes (at most %d)", n, MaxEvidenceSize)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, malformed("evidence frame truncated")
		}
		return nil, ctxErr(ctx, fmt.Errorf("atls: reading connection evidence: %w", err))
	}
	return body, nil
}

// Dial connects to addr and runs Client.Handshake on the connection.
func Dial(ctx context.Context, network, addr string, c Client) (*tls.Conn, *attest.Claims, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, nil, err
	}
	return c.Handshake(ctx, raw)
}
