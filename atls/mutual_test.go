package atls

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/confide-dev/confide/attest"
)

// mutualEnv is mutual attested TLS between enclave A, the server, and
// enclave B, the client.
type mutualEnv struct {
	server *Identity // A's identity; accepts clients from B
	client Client    // B's identity; accepts servers from A
}

func (e *env) mutual(t testing.TB) mutualEnv {
	t.Helper()
	server, err := NewIdentity(context.Background(), Server{
		Attester: e.a,
		ClientAuth: &Client{
			Verifier: e.verifier(),
			Appraise: attest.Policy{AllowSimulated: true, UniqueID: e.idB.UniqueID[:]}.Check,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	client := e.client
	client.Identity = e.identity(t, e.b, false)
	return mutualEnv{server: server, client: client}
}

func TestMutual(t *testing.T) {
	e := newEnv(t)
	m := e.mutual(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln := m.server.Listen(ln)
	peers := make(chan *attest.Claims, 1)
	wait := serve(func() {
		c, err := aln.Accept()
		if err != nil {
			peers <- nil
			return
		}
		defer c.Close()
		peers <- c.(*Conn).PeerClaims()
		io.Copy(c, c)
	})
	// Close the listener first: a server blocked in Accept would never return.
	defer func() { ln.Close(); wait() }()
	conn, claims, err := Dial(ctxTimeout(t), "tcp", ln.Addr().String(), m.client)
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer conn.Close()
	if !bytes.Equal(claims.UniqueID, e.idA.UniqueID[:]) {
		t.Errorf("client sees enclave %x; want A %x", []byte(claims.UniqueID), e.idA.UniqueID)
	}
	if pc := <-peers; pc == nil || !bytes.Equal(pc.UniqueID, e.idB.UniqueID[:]) {
		t.Errorf("server sees client claims %+v; want enclave B", pc)
	}
	msg := []byte("both ends attested")
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
}

// TestMutualClientWithoutIdentity: Client.Handshake refuses, itself, a
// server that requires an attested client certificate it does not have.
func TestMutualClientWithoutIdentity(t *testing.T) {
	e := newEnv(t)
	m := e.mutual(t)
	cc, sc := pipe(t)
	serr := make(chan error, 1)
	wait := serve(func() { _, _, err := m.server.Handshake(ctxTimeout(t), sc); serr <- err })
	defer wait()
	if _, _, err := e.client.Handshake(ctxTimeout(t), cc); !errors.Is(err, ErrNoEvidence) {
		t.Errorf("client Handshake = %v; want ErrNoEvidence", err)
	}
	if err := <-serr; err == nil {
		t.Errorf("server Handshake succeeded with a client that sent no certificate")
	}
}

// TestMutualCertificateOnly: the tls.Config helpers alone check both
// certificates; a client without an attested certificate is refused by
// the server.
func TestMutualCertificateOnly(t *testing.T) {
	e := newEnv(t)
	m := e.mutual(t)
	scfg := m.server.Config()
	noID := e.client
	tests := []struct {
		name   string
		client Client
		want   error // the server's error
	}{
		{"client identity B", m.client, nil},
		{"no client identity", noID, ErrNoEvidence},
		{"client identity A", Client{Verifier: e.client.Verifier, Appraise: e.client.Appraise, Identity: e.identity(t, e.a, false)}, attest.ErrPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := pipe(t)
			serr := make(chan error, 1)
			wait := serve(func() {
				s := tls.Server(sc, scfg)
				err := s.Handshake()
				if err == nil {
					_, err = s.Write([]byte("ok"))
				}
				serr <- err
				s.Close()
			})
			defer wait()
			c := tls.Client(cc, ClientConfig(tt.client))
			buf := make([]byte, 2)
			_, cerr := io.ReadFull(c, buf)
			if err := <-serr; !errors.Is(err, tt.want) {
				t.Fatalf("server handshake = %v; want %v", err, tt.want)
			}
			if (cerr == nil) != (tt.want == nil) {
				t.Errorf("client read = %v; want an error iff the server refused", cerr)
			}
		})
	}
}

// TestMutualRefusals runs the server side against clients that misbehave
// after a handshake with an attested client certificate.
func TestMutualRefusals(t *testing.T) {
	e := newEnv(t)
	m := e.mutual(t)
	idB := m.client.Identity
	// A server identity that accepts its own enclave as a client, as
	// replicas sharing one identity would.
	self, err := NewIdentity(context.Background(), Server{Attester: e.a, ClientAuth: &e.client})
	if err != nil {
		t.Fatal(err)
	}
	// A server that accepts any simulated client enclave, so that only the
	// binding to the certificate's enclave refuses the evidence.
	anyClient, err := NewIdentity(context.Background(), Server{Attester: e.a, ClientAuth: &Client{
		Verifier: e.verifier(), Appraise: func(*attest.Claims) error { return nil },
	}})
	if err != nil {
		t.Fatal(err)
	}

	// Record B's connection evidence from a genuine connection.
	var recorded []byte
	{
		cc, sc := pipe(t)
		wait := serve(func() { m.server.Handshake(ctxTimeout(t), sc) })
		tc := tls.Client(cc, ClientConfig(m.client))
		if _, err := readFrame(ctxTimeout(t), tc); err != nil {
			t.Fatal(err)
		}
		if err := sendEvidence(ctxTimeout(t), tc, e.b, idB.spki, ClientExporterLabel); err != nil {
			t.Fatal(err)
		}
		wait()
		ekm, _ := exporter(tc.ConnectionState(), ClientExporterLabel)
		ev, err := makeEvidence(e.b, idB.spki, ekm)
		if err != nil {
			t.Fatal(err)
		}
		recorded = frame(ev)
	}

	type clientSide func(tc *tls.Conn, serverFrame []byte) []byte
	evidence := func(a Attester, spki []byte, label string) clientSide {
		return func(tc *tls.Conn, _ []byte) []byte {
			ekm, err := exporter(tc.ConnectionState(), label)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := makeEvidence(a, spki, ekm)
			if err != nil {
				t.Fatal(err)
			}
			return frame(ev)
		}
	}
	tests := []struct {
		name   string
		server *Identity
		client *Identity  // the certificate the client presents
		send   clientSide // what the client sends after the server's frame; nil closes
		want   error      // the server's error
	}{
		{"genuine", m.server, idB, evidence(e.b, idB.spki, ClientExporterLabel), nil},
		{"replayed client evidence", m.server, idB, func(*tls.Conn, []byte) []byte { return recorded }, ErrReplay},
		{"server exporter value as nonce", m.server, idB, evidence(e.b, idB.spki, ExporterLabel), ErrReplay},
		{"reflected server evidence", self, self, func(_ *tls.Conn, sf []byte) []byte { return sf }, ErrReplay},
		{"evidence for another key", m.server, idB, evidence(e.b, []byte("another key"), ClientExporterLabel), ErrKeyBinding},
		{"client evidence from another enclave", anyClient, idB, evidence(e.a, idB.spki, ClientExporterLabel), ErrKeyBinding},
		{"no client evidence", m.server, idB, nil, ErrNoEvidence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := pipe(t)
			type result struct {
				claims *attest.Claims
				err    error
			}
			res := make(chan result, 1)
			wait := serve(func() {
				tc, claims, err := tt.server.Handshake(ctxTimeout(t), sc)
				if tc != nil {
					tc.Close()
				}
				res <- result{claims, err}
			})
			defer wait()
			tc := tls.Client(cc, ClientConfig(Client{Verifier: e.client.Verifier, Appraise: e.client.Appraise, Identity: tt.client}))
			sf, err := readFrame(ctxTimeout(t), tc)
			if err != nil {
				t.Fatalf("reading the server's frame: %v", err)
			}
			if tt.send != nil {
				tc.Write(tt.send(tc, frame(sf)))
			}
			tc.Close()
			r := <-res
			if !errors.Is(r.err, tt.want) || (tt.want == nil) != (r.claims != nil) {
				t.Fatalf("server Handshake = %v, %v; want %v", r.claims != nil, r.err, tt.want)
			}
		})
	}
}

// TestResumptionChecked: a resumed session skips certificate
// verification in crypto/tls, but the evidence check still runs on it.
func TestResumptionChecked(t *testing.T) {
	e := newEnv(t)
	id := e.identity(t, e.a, false)
	var calls int
	refuse := false
	errRefused := errors.New("refused")
	client := e.client
	client.Appraise = func(c *attest.Claims) error {
		calls++
		if refuse {
			return errRefused
		}
		return e.client.Appraise(c)
	}
	ccfg := ClientConfig(client)
	ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	ccfg.ServerName = "atls.test" // the cache key; each pipe has a new address
	scfg := id.Config()
	connect := func() (resumed bool, err error) {
		cc, sc := pipe(t)
		wait := serve(func() {
			s := tls.Server(sc, scfg)
			if s.Handshake() == nil {
				s.Write([]byte("ok"))
			}
			s.Close()
		})
		defer wait()
		c := tls.Client(cc, ccfg)
		buf := make([]byte, 2)
		// The session ticket arrives before "ok".
		if _, err := io.ReadFull(c, buf); err != nil {
			return false, err
		}
		return c.ConnectionState().DidResume, nil
	}
	if resumed, err := connect(); err != nil || resumed {
		t.Fatalf("first connection: resumed %v, %v", resumed, err)
	}
	if resumed, err := connect(); err != nil || !resumed {
		t.Fatalf("second connection: resumed %v, %v; want a resumed session", resumed, err)
	}
	if calls != 2 {
		t.Errorf("appraisal ran %d times for two connections; want 2", calls)
	}
	refuse = true
	if _, err := connect(); !errors.Is(err, errRefused) || !errors.Is(err, attest.ErrPolicy) {
		t.Errorf("resumed connection refused by the appraisal = %v; want ErrPolicy", err)
	}
}
