package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// recordingConn keeps every byte that passes through the host.
type recordingConn struct {
	net.Conn
	mu  *sync.Mutex
	log *bytes.Buffer
}

func (c recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.log.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.log.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func httpsRequest(srv *httptest.Server, path string) []byte {
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	in := binary.LittleEndian.AppendUint32(nil, uint32(len(root)))
	in = append(in, root...)
	return append(in, srv.URL+path...)
}

// TestNetworkRelay checks that an enclave reaches a TLS server through
// connections the host relays, and that the host sees only ciphertext.
func TestNetworkRelay(t *testing.T) {
	const marker = "confide-relay-plaintext-marker"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", marker, r.URL.Path)
	}))
	defer srv.Close()

	var mu sync.Mutex
	var log bytes.Buffer
	var dialled []string
	e := load(t, enclavetest.Config(2), host.Options{
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			mu.Lock()
			dialled = append(dialled, network+" "+address)
			mu.Unlock()
			c, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return recordingConn{c, &mu, &log}, nil
		},
	})
	out, err := e.Call(context.Background(), enclavetest.FnHTTPSGet, httpsRequest(srv, "/secret-path"))
	if err != nil {
		t.Fatalf("Call(FnHTTPSGet) = %v", err)
	}
	if want := marker + " /secret-path"; string(out) != want {
		t.Fatalf("enclave fetched %q; want %q", out, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialled) != 1 || dialled[0] != "tcp "+srv.Listener.Addr().String() {
		t.Errorf("host dialled %q; want one tcp connection to %s", dialled, srv.Listener.Addr())
	}
	if log.Len() == 0 {
		t.Fatal("no bytes passed through the host's connection")
	}
	for _, s := range []string{marker, "/secret-path"} {
		if bytes.Contains(log.Bytes(), []byte(s)) {
			t.Errorf("the host saw %q in the relayed bytes: TLS does not end in the enclave", s)
		}
	}
}

// TestNetworkDenied checks that without Options.Dial the enclave cannot
// open connections, and that it gets an error, not a hang.
func TestNetworkDenied(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	e := load(t, enclavetest.Config(2), host.Options{})
	_, err := e.Call(context.Background(), enclavetest.FnHTTPSGet, httpsRequest(srv, "/"))
	if !errors.Is(err, host.ErrFailed) {
		t.Fatalf("Call(FnHTTPSGet) without Options.Dial = %v; want ErrFailed (the host's ErrNetworkDenied)", err)
	}
}
