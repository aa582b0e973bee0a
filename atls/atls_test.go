package atls

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/confide-dev/confide/atls/internal/cbor"
	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/vectors"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// Every platform can attest a TLS key.
var _ Attester = tee.Platform(nil)

// env is a simulated platform with two enclaves and a client that trusts
// the simulated root and accepts enclave A.
type env struct {
	state  *sim.State
	a, b   *sim.Platform
	idA    image.Identity
	idB    image.Identity
	client Client
}

func enclaveIdentity(fill byte, debug bool) image.Identity {
	id := image.Identity{ProductID: 9, SecurityVersion: 2, Debug: debug}
	copy(id.UniqueID[:], bytes.Repeat([]byte{fill}, 32))
	copy(id.SignerID[:], bytes.Repeat([]byte{0x5E}, 32))
	return id
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := sim.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{state: st, idA: enclaveIdentity(0xA1, false), idB: enclaveIdentity(0xB2, false)}
	if e.a, err = st.Platform(e.idA, sim.Options{}); err != nil {
		t.Fatal(err)
	}
	if e.b, err = st.Platform(e.idB, sim.Options{}); err != nil {
		t.Fatal(err)
	}
	e.client = Client{
		Verifier: e.verifier(),
		Appraise: attest.Policy{AllowSimulated: true, UniqueID: e.idA.UniqueID[:]}.Check,
	}
	return e
}

func (e *env) verifier() Verifier {
	return SGX(sgx.Options{
		SimulatedRoots: []*x509.Certificate{e.state.RootCertificate()},
		Getter:         e.state.Getter(),
		Cache:          sgx.NewCache(0),
	})
}

func (e *env) identity(t testing.TB, a Attester, oe bool) *Identity {
	t.Helper()
	id, err := NewIdentity(context.Background(), Server{Attester: a, OpenEnclave: oe})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pipe returns the two ends of a loopback TCP connection.
func pipe(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// serve runs fn on the server end in a goroutine and returns a function
// that waits for it.
func serve(fn func()) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); fn() }()
	return wg.Wait
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	id := e.identity(t, e.a, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln := id.Listen(ln)
	wait := serve(func() {
		for range 2 {
			c, err := aln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	})
	// Close the listener first: a server blocked in Accept would never return.
	defer func() { ln.Close(); wait() }()
	ctx := ctxTimeout(t)
	var nonces [][]byte
	for i := range 2 {
		conn, claims, err := Dial(ctx, "tcp", ln.Addr().String(), e.client)
		if err != nil {
			t.Fatalf("Dial #%d = %v", i, err)
		}
		if !claims.Simulated || !bytes.Equal(claims.UniqueID, e.idA.UniqueID[:]) || claims.TCBStatus != attest.UpToDate {
			t.Errorf("claims = %+v; want simulated enclave A, UpToDate", claims)
		}
		msg := []byte("hello over attested TLS")
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo = %q, %v; want %q", got, err, msg)
		}
		ekm, err := exporter(conn.ConnectionState(), ExporterLabel)
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, ekm)
		conn.Close()
	}
	if bytes.Equal(nonces[0], nonces[1]) {
		t.Errorf("two connections share the exporter value %x", nonces[0])
	}
}

// TestCertificateOnly: ServerConfig and ClientConfig interoperate with no
// connection evidence, and the certificate carries both extensions when
// asked.
func TestCertificateOnly(t *testing.T) {
	e := newEnv(t)
	scfg, err := ServerConfig(context.Background(), Server{Attester: e.a, OpenEnclave: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := scfg.Certificates[0].Leaf
	var n int
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(OIDTaggedEvidence) || ext.Id.Equal(OIDOpenEnclaveEvidence) {
			n++
			if ext.Critical {
				t.Errorf("extension %v is critical; want non-critical for interop", ext.Id)
			}
		}
	}
	if n != 2 {
		t.Fatalf("certificate has %d evidence extensions; want 2", n)
	}
	cc, sc := pipe(t)
	wait := serve(func() {
		s := tls.Server(sc, scfg)
		if s.Handshake() == nil {
			s.Write([]byte("ok"))
		}
	})
	defer wait()
	var got *attest.Claims
	client := e.client
	client.Appraise = func(c *attest.Claims) error { got = c; return e.client.Appraise(c) }
	c := tls.Client(cc, ClientConfig(client))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read = %q, %v", buf, err)
	}
	if got == nil || !bytes.Equal(got.UniqueID, e.idA.UniqueID[:]) {
		t.Errorf("appraised claims = %+v; want enclave A", got)
	}
}

// certWith makes a self-signed certificate for a fresh key carrying exts.
func certWith(t testing.TB, exts []pkix.Extension) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return certFor(t, key, exts)
}

func certFor(t testing.TB, key *ecdsa.PrivateKey, exts []pkix.Extension) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "test"},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(time.Hour),
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func extValue(t testing.TB, c *x509.Certificate, oid []int) []byte {
	t.Helper()
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oid) {
			return ext.Value
		}
	}
	t.Fatalf("certificate has no extension %v", oid)
	return nil
}

// TestVerifyCertificate is the negative matrix on certificates.
func TestVerifyCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := ctxTimeout(t)
	idA := e.identity(t, e.a, true)
	leafA := idA.cert.Leaf
	dice := extValue(t, leafA, OIDTaggedEvidence)
	oe := extValue(t, leafA, OIDOpenEnclaveEvidence)
	keyA := idA.cert.PrivateKey.(*ecdsa.PrivateKey)
	spkiA := idA.spki

	debugID := enclaveIdentity(0xA1, true)
	debugP, err := e.state.Platform(debugID, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// Evidence whose quote hashes other claims than the ones it carries:
	// the quote binds claims for another key, the claims name this key.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSPKI, _ := x509.MarshalPKIXPublicKey(&otherKey.PublicKey)
	q, err := e.a.Quote(reportData(marshalClaims(otherSPKI, nil)))
	if err != nil {
		t.Fatal(err)
	}
	swapped := marshalEvidence(q, marshalClaims(spkiA, nil))

	// Open Enclave evidence whose PEM names another key.
	oeClaimsOther := oeClaims(otherSPKI)
	qo, err := e.a.Quote(reportData(oeClaimsOther))
	if err != nil {
		t.Fatal(err)
	}
	oeOther := marshalOpenEnclave(qo, oeClaimsOther)
	// Open Enclave evidence whose claims are not hashed into the quote.
	oeSwapped := marshalOpenEnclave(qo, oeClaims(spkiA))

	debugEv, err := makeEvidence(debugP, spkiA, nil)
	if err != nil {
		t.Fatal(err)
	}
	bEv, err := makeEvidence(e.b, spkiA, nil)
	if err != nil {
		t.Fatal(err)
	}
	diceOID, oeOID := OIDTaggedEvidence, OIDOpenEnclaveEvidence
	tests := []struct {
		name string
		key  *ecdsa.PrivateKey // nil: a fresh key
		exts []pkix.Extension
		// policy, if set, replaces the client's appraisal.
		policy *attest.Policy
		want   error
	}{
		{"dice", keyA, []pkix.Extension{{Id: diceOID, Value: dice}}, nil, nil},
		{"open enclave only", keyA, []pkix.Extension{{Id: oeOID, Value: oe}}, nil, nil},
		{"both", keyA, []pkix.Extension{{Id: diceOID, Value: dice}, {Id: oeOID, Value: oe}}, nil, nil},
		{"no extension", keyA, nil, nil, ErrNoEvidence},
		{"wrong key (dice)", nil, []pkix.Extension{{Id: diceOID, Value: dice}}, nil, ErrKeyBinding},
		{"wrong key (open enclave)", nil, []pkix.Extension{{Id: oeOID, Value: oe}}, nil, ErrKeyBinding},
		{"open enclave PEM of another key", keyA, []pkix.Extension{{Id: oeOID, Value: oeOther}}, nil, ErrKeyBinding},
		{"claims not in report data (dice)", keyA, []pkix.Extension{{Id: diceOID, Value: swapped}}, nil, ErrKeyBinding},
		{"claims not in report data (open enclave)", keyA, []pkix.Extension{{Id: oeOID, Value: oeSwapped}}, nil, ErrKeyBinding},
		{"malformed dice", keyA, []pkix.Extension{{Id: diceOID, Value: dice[:len(dice)-1]}}, nil, attest.ErrMalformed},
		{"malformed open enclave", keyA, []pkix.Extension{{Id: oeOID, Value: oe[:20]}}, nil, attest.ErrMalformed},
		{"malformed dice does not fall back", keyA, []pkix.Extension{{Id: diceOID, Value: []byte{0xA0}}, {Id: oeOID, Value: oe}}, nil, attest.ErrMalformed},
		{"another enclave", keyA, []pkix.Extension{{Id: diceOID, Value: bEv}}, nil, attest.ErrPolicy},
		{"debug enclave", keyA, []pkix.Extension{{Id: diceOID, Value: debugEv}}, &attest.Policy{AllowSimulated: true}, attest.ErrDebug},
		{"simulated refused by default policy", keyA, []pkix.Extension{{Id: diceOID, Value: dice}}, &attest.Policy{}, attest.ErrPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == nil {
				key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			}
			_, leaf := certFor(t, key, tt.exts)
			c := e.client
			if tt.policy != nil {
				c.Appraise = tt.policy.Check
			}
			claims, err := c.VerifyCertificate(ctx, leaf)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (claims != nil) {
				t.Fatalf("VerifyCertificate = %v, %v; want %v", claims != nil, err, tt.want)
			}
		})
	}

	t.Run("wrong root", func(t *testing.T) {
		other, err := sim.Init(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c := e.client
		c.Verifier = SGX(sgx.Options{SimulatedRoots: []*x509.Certificate{other.RootCertificate()}, Getter: e.state.Getter()})
		if _, err := c.VerifyCertificate(ctx, leafA); !errors.Is(err, attest.ErrChain) {
			t.Errorf("VerifyCertificate with another root = %v; want ErrChain", err)
		}
	})
	t.Run("appraisal error not of the policy class", func(t *testing.T) {
		errNo := errors.New("no")
		c := e.client
		c.Appraise = func(*attest.Claims) error { return errNo }
		_, err := c.VerifyCertificate(ctx, leafA)
		if !errors.Is(err, attest.ErrPolicy) || !errors.Is(err, errNo) {
			t.Errorf("VerifyCertificate = %v; want ErrPolicy wrapping the appraisal's error", err)
		}
	})
}

// TestHandshakeRefusals runs the handshake against servers that misbehave.
func TestHandshakeRefusals(t *testing.T) {
	e := newEnv(t)
	idA := e.identity(t, e.a, false)

	// Record connection evidence from a genuine connection, reading the
	// frame as spec/atls.md lays it out.
	var recorded []byte
	{
		cc, sc := pipe(t)
		wait := serve(func() { idA.Handshake(ctxTimeout(t), sc) })
		c := tls.Client(cc, ClientConfig(e.client))
		var h [9]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Fatal(err)
		}
		if string(h[:4]) != "ATLS" || h[4] != 1 {
			t.Fatalf("frame header %x", h)
		}
		recorded = make([]byte, 9+binary.BigEndian.Uint32(h[5:]))
		copy(recorded, h[:])
		if _, err := io.ReadFull(c, recorded[9:]); err != nil {
			t.Fatal(err)
		}
		wait()
	}
	// Connection evidence from enclave B for A's key, for the connection.
	fromB := func(tc *tls.Conn) []byte {
		ekm, err := exporter(tc.ConnectionState(), ExporterLabel)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := makeEvidence(e.b, idA.spki, ekm)
		if err != nil {
			t.Fatal(err)
		}
		return frame(ev)
	}
	// Connection evidence without a nonce.
	noNonce := func(*tls.Conn) []byte {
		ev, err := makeEvidence(e.a, idA.spki, nil)
		if err != nil {
			t.Fatal(err)
		}
		return frame(ev)
	}
	// Connection evidence for another key.
	otherKey := func(tc *tls.Conn) []byte {
		ekm, _ := exporter(tc.ConnectionState(), ExporterLabel)
		ev, err := makeEvidence(e.a, []byte("another key"), ekm)
		if err != nil {
			t.Fatal(err)
		}
		return frame(ev)
	}
	_, plain := certWith(t, nil)
	plainCert, _ := certWith(t, nil)
	_ = plain

	tests := []struct {
		name string
		cert tls.Certificate
		// send returns what the server sends after the handshake; nil
		// closes the connection.
		send   func(*tls.Conn) []byte
		accept func(*attest.Claims) error // nil: the env's
		want   error
	}{
		{"replayed evidence", idA.cert, func(*tls.Conn) []byte { return recorded }, nil, ErrReplay},
		{"no nonce", idA.cert, noNonce, nil, ErrReplay},
		{"evidence for another key", idA.cert, otherKey, nil, ErrKeyBinding},
		{"no connection evidence", idA.cert, func(*tls.Conn) []byte { return nil }, nil, ErrNoEvidence},
		{"bad frame magic", idA.cert, func(*tls.Conn) []byte { return append([]byte("XTLS\x01"), recorded[5:]...) }, nil, attest.ErrMalformed},
		{"oversized frame", idA.cert, func(*tls.Conn) []byte { return []byte("ATLS\x01\xff\xff\xff\xff") }, nil, attest.ErrMalformed},
		{"truncated frame", idA.cert, func(*tls.Conn) []byte { return recorded[:len(recorded)-3] }, nil, attest.ErrMalformed},
		{"certificate without evidence", plainCert, func(*tls.Conn) []byte { return recorded }, nil, ErrNoEvidence},
		// B passes this appraisal, but did not make the certificate.
		{"connection evidence from another enclave", idA.cert, fromB, func(*attest.Claims) error { return nil }, ErrKeyBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := pipe(t)
			wait := serve(func() {
				s := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{tt.cert}, MinVersion: tls.VersionTLS13})
				if s.Handshake() != nil {
					return
				}
				if b := tt.send(s); b != nil {
					s.Write(b)
				}
				s.Close()
			})
			defer wait()
			c := e.client
			if tt.accept != nil {
				c.Appraise = tt.accept
			}
			conn, claims, err := c.Handshake(ctxTimeout(t), cc)
			if !errors.Is(err, tt.want) || conn != nil || claims != nil {
				t.Fatalf("Handshake = %v, %v, %v; want %v", conn != nil, claims != nil, err, tt.want)
			}
		})
	}

	t.Run("server never sends evidence", func(t *testing.T) {
		cc, sc := pipe(t)
		release := make(chan struct{})
		wait := serve(func() {
			s := tls.Server(sc, idA.Config())
			s.Handshake()
			<-release
		})
		defer wait()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, _, err := e.client.Handshake(ctx, cc); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Handshake = %v; want DeadlineExceeded", err)
		}
	})
}

func frame(ev []byte) []byte {
	b := append([]byte("ATLS\x01"), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[5:], uint32(len(ev)))
	return append(b, ev...)
}

// TestParseEvidence covers the structure rules of tagged evidence.
func TestParseEvidence(t *testing.T) {
	spki := []byte("spki")
	good := marshalEvidence([]byte("quote"), marshalClaims(spki, []byte("n")))
	ev, err := ParseEvidence(good)
	if err != nil {
		t.Fatalf("ParseEvidence(good) = %v", err)
	}
	if string(ev.Quote) != "quote" || string(ev.Nonce) != "n" || ev.PubKeyHashAlg != HashSHA256 || ev.Tag != TagIntelQuote {
		t.Errorf("ParseEvidence(good) = %+v", ev)
	}
	if err := ev.checkKey(spki); err != nil {
		t.Errorf("checkKey = %v", err)
	}
	claimsWith := func(kv ...[]byte) []byte {
		b := cbor.AppendHead(nil, cbor.Map, uint64(len(kv)/2))
		for _, x := range kv {
			b = append(b, x...)
		}
		return b
	}
	text := func(s string) []byte { return cbor.AppendText(nil, s) }
	bstr := func(b []byte) []byte { return cbor.AppendBytes(nil, b) }
	hashEntry := func(alg uint64, n int) []byte {
		b := cbor.AppendHead(nil, cbor.Array, 2)
		b = cbor.AppendUint(b, alg)
		return cbor.AppendBytes(b, make([]byte, n))
	}
	for _, alg := range []struct {
		id uint64
		n  int
	}{{HashSHA256, 32}, {HashSHA384, 48}, {HashSHA512, 64}} {
		c := claimsWith(text("pubkey-hash"), bstr(hashEntry(alg.id, alg.n)), text("other"), cbor.AppendUint(nil, 5))
		if _, err := ParseEvidence(marshalEvidence([]byte("q"), c)); err != nil {
			t.Errorf("hash algorithm %d: %v", alg.id, err)
		}
	}
	tagged := func(tag uint64, body []byte) []byte { return append(cbor.AppendHead(nil, cbor.Tag, tag), body...) }
	arr := func(items ...[]byte) []byte {
		b := cbor.AppendHead(nil, cbor.Array, uint64(len(items)))
		for _, x := range items {
			b = append(b, x...)
		}
		return b
	}
	okClaims := marshalClaims(spki, nil)
	bad := map[string][]byte{
		"empty":             nil,
		"trailing byte":     append(bytes.Clone(good), 0),
		"not a tag":         arr(bstr([]byte("q")), bstr(okClaims)),
		"other tag":         tagged(60001, arr(bstr([]byte("q")), bstr(okClaims))),
		"three elements":    tagged(TagIntelQuote, arr(bstr([]byte("q")), bstr(okClaims), bstr(nil))),
		"empty quote":       tagged(TagIntelQuote, arr(bstr(nil), bstr(okClaims))),
		"quote as text":     tagged(TagIntelQuote, arr(text("q"), bstr(okClaims))),
		"claims not a map":  marshalEvidence([]byte("q"), arr()),
		"no pubkey-hash":    marshalEvidence([]byte("q"), claimsWith(text("nonce"), bstr(nil))),
		"pubkey-hash array": marshalEvidence([]byte("q"), claimsWith(text("pubkey-hash"), hashEntry(1, 32))),
		"unknown hash alg":  marshalEvidence([]byte("q"), claimsWith(text("pubkey-hash"), bstr(hashEntry(2, 32)))),
		"short hash":        marshalEvidence([]byte("q"), claimsWith(text("pubkey-hash"), bstr(hashEntry(1, 31)))),
		"nonce as text":     marshalEvidence([]byte("q"), claimsWith(text("pubkey-hash"), bstr(hashEntry(1, 32)), text("nonce"), text("x"))),
		"duplicate claim":   marshalEvidence([]byte("q"), claimsWith(text("pubkey-hash"), bstr(hashEntry(1, 32)), text("pubkey-hash"), bstr(hashEntry(1, 32)))),
		"indefinite array":  tagged(TagIntelQuote, append([]byte{0x9f}, append(bstr([]byte("q")), append(bstr(okClaims), 0xff)...)...)),
		"too large":         make([]byte, MaxEvidenceSize+1),
	}
	for name, b := range bad {
		if _, err := ParseEvidence(b); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParseEvidence(%s) = %v; want ErrMalformed", name, err)
		}
	}
}

func TestParseOpenEnclaveEvidence(t *testing.T) {
	quote := make([]byte, sgxQuoteMinSize+10)
	binary.LittleEndian.PutUint32(quote[sgxQuoteSigLenOff:], 10)
	claims := []byte("claims\x00")
	good := marshalOpenEnclave(quote, claims)
	ev, err := ParseOpenEnclaveEvidence(good)
	if err != nil || !bytes.Equal(ev.Quote, quote) || !bytes.Equal(ev.Claims, claims) {
		t.Fatalf("ParseOpenEnclaveEvidence(good) = %+v, %v", ev, err)
	}
	// C alignment padding between the format ID and the data size is not
	// interpreted: Open Enclave leaves it uninitialised.
	padded := bytes.Clone(good)
	copy(padded[20:24], "\xde\xad\xbe\xef")
	if _, err := ParseOpenEnclaveEvidence(padded); err != nil {
		t.Errorf("ParseOpenEnclaveEvidence(garbage padding) = %v", err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	bad := map[string][]byte{
		"short header":    good[:31],
		"version 2":       mod(func(b []byte) []byte { b[0] = 2; return b }),
		"other format":    mod(func(b []byte) []byte { b[4] ^= 1; return b }),
		"size too large":  mod(func(b []byte) []byte { b[24]++; return b }),
		"trailing byte":   append(bytes.Clone(good), 0),
		"quote too short": marshalOpenEnclave(quote[:100], nil),
		"sig beyond data": mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[32+sgxQuoteSigLenOff:], 1<<20); return b }),
	}
	for name, b := range bad {
		if _, err := ParseOpenEnclaveEvidence(b); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("ParseOpenEnclaveEvidence(%s) = %v; want ErrMalformed", name, err)
		}
	}
}

// TestOpenEnclaveRealQuote wraps the real DCAP quote from the vectors the
// way Open Enclave does and checks the quote's extent is recovered.
func TestOpenEnclaveRealQuote(t *testing.T) {
	raw := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	quote := raw[:len(raw)-q.Padding]
	claims := oeClaims([]byte("not a real key"))
	ev, err := ParseOpenEnclaveEvidence(marshalOpenEnclave(quote, claims))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Quote, quote) || !bytes.Equal(ev.Claims, claims) {
		t.Errorf("quote %d bytes, claims %q; want %d bytes, %q", len(ev.Quote), ev.Claims, len(quote), claims)
	}
}

// TestSpecVector checks the worked example in spec/atls.md: the P-256 key
// whose private scalar is 1, nonce 00 01 … 1f, quote AA BB.
func TestSpecVector(t *testing.T) {
	k, err := ecdh.P256().NewPrivateKey(append(make([]byte, 31), 1))
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = byte(i)
	}
	const (
		wantSPKI   = "3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
		wantClaims = "a2656e6f6e63655820000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f6b7075626b65792d686173685824820158205cd252fb0ce8932436faf8ccd1040981b89ee4ad6b9fe9e2a2b7e71aacb27cd3"
		wantRD     = "974c058c74207fc291b307e229b5442b53c9305d6a397024d3a2b61fcd91580b" + "0000000000000000000000000000000000000000000000000000000000000000"
		wantEv     = "d9ea608242aabb585b" + wantClaims
	)
	claims := marshalClaims(spki, nonce)
	rd := reportData(claims)
	for _, c := range []struct{ name, got, want string }{
		{"spki", hex.EncodeToString(spki), wantSPKI},
		{"claims", hex.EncodeToString(claims), wantClaims},
		{"report data", hex.EncodeToString(rd[:]), wantRD},
		{"evidence", hex.EncodeToString(marshalEvidence([]byte{0xAA, 0xBB}, claims)), wantEv},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s; want %s", c.name, c.got, c.want)
		}
	}
	ev, err := ParseEvidence(mustHex(t, wantEv))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.checkKey(mustHex(t, wantSPKI)); err != nil || !bytes.Equal(ev.Nonce, nonce) {
		t.Errorf("parsed vector: checkKey = %v, nonce %x", err, ev.Nonce)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForeignKeyAndHash checks a certificate as Gramine makes it: a P-384
// key, and here a SHA-384 pubkey-hash, with the quote over the claims.
func TestForeignKeyAndHash(t *testing.T) {
	e := newEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384(spki)
	he := cbor.AppendHead(nil, cbor.Array, 2)
	he = cbor.AppendUint(he, HashSHA384)
	he = cbor.AppendBytes(he, sum[:])
	claims := cbor.AppendHead(nil, cbor.Map, 1)
	claims = cbor.AppendText(claims, "pubkey-hash")
	claims = cbor.AppendBytes(claims, he)
	q, err := e.a.Quote(reportData(claims))
	if err != nil {
		t.Fatal(err)
	}
	_, leaf := certFor(t, key, []pkix.Extension{{Id: OIDTaggedEvidence, Value: marshalEvidence(q, claims)}})
	c, err := e.client.VerifyCertificate(ctxTimeout(t), leaf)
	if err != nil || !bytes.Equal(c.UniqueID, e.idA.UniqueID[:]) {
		t.Fatalf("VerifyCertificate(P-384, SHA-384) = %+v, %v", c, err)
	}
}
