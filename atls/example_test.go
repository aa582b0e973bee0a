package atls_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/confide-dev/confide/atls"
	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee/sim"
)

// An enclave serves attested TLS; a client connects, checks the evidence
// in the certificate and on the connection, and talks to it.
func Example() {
	dir, err := os.MkdirTemp("", "atls-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	state, err := sim.Init(dir)
	if err != nil {
		log.Fatal(err)
	}
	enclave := image.Identity{ProductID: 1}
	enclave.UniqueID[0] = 0xE1
	platform, err := state.Platform(enclave, sim.Options{})
	if err != nil {
		log.Fatal(err)
	}

	// Server: a fresh key, its attested certificate, a listener that sends
	// connection evidence.
	ctx := context.Background()
	id, err := atls.NewIdentity(ctx, atls.Server{Attester: platform})
	if err != nil {
		log.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ln := id.Listen(tcp)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "hello from the enclave\n")
	}()

	// Client: trusts the simulated root and this enclave only.
	client := atls.Client{
		Verifier: atls.SGX(sgx.Options{
			SimulatedRoots: []*x509.Certificate{state.RootCertificate()},
			Getter:         state.Getter(),
			Cache:          sgx.NewCache(0),
		}),
		Appraise: attest.Policy{UniqueID: enclave.UniqueID[:], AllowSimulated: true}.Check,
	}
	conn, claims, err := atls.Dial(ctx, "tcp", tcp.Addr().String(), client)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	msg, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("enclave %x… simulated=%v: %s", []byte(claims.UniqueID[:2]), claims.Simulated, msg)
	// Output: enclave e100… simulated=true: hello from the enclave
}

// Two enclaves attest each other: the server accepts only the client
// enclave, the client only the server enclave.
func Example_mutual() {
	dir, err := os.MkdirTemp("", "atls-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	state, err := sim.Init(dir)
	if err != nil {
		log.Fatal(err)
	}
	var serverEnclave, clientEnclave image.Identity
	serverEnclave.UniqueID[0], clientEnclave.UniqueID[0] = 0x5E, 0xC1
	serverPlatform, err := state.Platform(serverEnclave, sim.Options{})
	if err != nil {
		log.Fatal(err)
	}
	clientPlatform, err := state.Platform(clientEnclave, sim.Options{})
	if err != nil {
		log.Fatal(err)
	}
	verifier := atls.SGX(sgx.Options{
		SimulatedRoots: []*x509.Certificate{state.RootCertificate()},
		Getter:         state.Getter(),
		Cache:          sgx.NewCache(0),
	})
	only := func(id image.Identity) func(*attest.Claims) error {
		return attest.Policy{UniqueID: id.UniqueID[:], AllowSimulated: true}.Check
	}

	ctx := context.Background()
	server, err := atls.NewIdentity(ctx, atls.Server{
		Attester:   serverPlatform,
		ClientAuth: &atls.Client{Verifier: verifier, Appraise: only(clientEnclave)},
	})
	if err != nil {
		log.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ln := server.Listen(tcp)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if peer := c.(*atls.Conn).PeerClaims(); peer != nil {
			fmt.Fprintf(c, "hello, enclave %x…\n", []byte(peer.UniqueID[:1]))
		}
	}()

	clientID, err := atls.NewIdentity(ctx, atls.Server{Attester: clientPlatform})
	if err != nil {
		log.Fatal(err)
	}
	conn, claims, err := atls.Dial(ctx, "tcp", tcp.Addr().String(), atls.Client{
		Verifier: verifier,
		Appraise: only(serverEnclave),
		Identity: clientID,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	msg, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server enclave %x…: %s", []byte(claims.UniqueID[:1]), msg)
	// Output: server enclave 5e…: hello, enclave c1…
}
