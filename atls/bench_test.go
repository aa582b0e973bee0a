package atls

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
)

// BenchmarkHandshake compares, in the same run, a plain TLS 1.3 handshake
// (self-signed P-256 certificate, no verification), a handshake whose
// certificate evidence is verified (ClientConfig), and the full attested
// handshake with connection evidence (Identity.Handshake and
// Client.Handshake: one quote on the server, two verifications on the
// client). Collateral is verified once and cached, as a long-running
// client would.
func BenchmarkHandshake(b *testing.B) {
	e := newEnv(b)
	id := e.identity(b, e.a, false)
	plainCert, _ := certWith(b, nil)
	ctx := context.Background()

	run := func(b *testing.B, server func(net.Conn) error, client func(net.Conn) error) {
		b.Helper()
		for b.Loop() {
			cc, sc := net.Pipe()
			errc := make(chan error, 1)
			go func() { errc <- server(sc); sc.Close() }()
			if err := client(cc); err != nil {
				b.Fatal(err)
			}
			cc.Close()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		scfg := &tls.Config{Certificates: []tls.Certificate{plainCert}, MinVersion: tls.VersionTLS13}
		ccfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		run(b, func(c net.Conn) error { return tls.Server(c, scfg).Handshake() },
			func(c net.Conn) error { return tls.Client(c, ccfg).Handshake() })
	})
	b.Run("certificate-evidence", func(b *testing.B) {
		scfg := id.Config()
		ccfg := ClientConfig(e.client)
		run(b, func(c net.Conn) error { return tls.Server(c, scfg).Handshake() },
			func(c net.Conn) error { return tls.Client(c, ccfg).Handshake() })
	})
	b.Run("connection-evidence", func(b *testing.B) {
		run(b, func(c net.Conn) error { _, _, err := id.Handshake(ctx, c); return err },
			func(c net.Conn) error { _, _, err := e.client.Handshake(ctx, c); return err })
	})
	b.Run("mutual", func(b *testing.B) {
		m := e.mutual(b)
		run(b, func(c net.Conn) error { _, _, err := m.server.Handshake(ctx, c); return err },
			func(c net.Conn) error { _, _, err := m.client.Handshake(ctx, c); return err })
	})
	b.Run("quote", func(b *testing.B) {
		var rd [64]byte
		for b.Loop() {
			if _, err := e.a.Quote(rd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify-quote-warm", func(b *testing.B) {
		var rd [64]byte
		q, err := e.a.Quote(rd)
		if err != nil {
			b.Fatal(err)
		}
		v := e.verifier()
		for b.Loop() {
			if _, err := v.Verify(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
