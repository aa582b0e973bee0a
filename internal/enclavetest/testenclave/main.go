// Command testenclave is an enclave used by the host and enclave tests.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/confide-dev/confide/enclave"
)

// Ecall IDs (kept in step with internal/enclavetest/ids.go).
const (
	fnEcho uint32 = iota
	fnNested
	fnBlock
	fnPanic
	fnTryOpen
	fnTryDial
	fnTryExec
	fnSecret
	fnExit
	fnIdentity
	fnPrint
	fnOcallBackground
	fnSpin
	fnOcallSwitchless
	fnSink
	fnHTTPSGet
)

// secret is a marker kept in enclave memory for the memory-protection test.
var secret []byte

func main() {
	err := enclave.Run(enclave.Ecalls{
		fnEcho: func(ctx context.Context, in []byte) ([]byte, error) { return in, nil },
		fnNested: func(ctx context.Context, in []byte) ([]byte, error) {
			// in: u32 count; calls host ocall 0 that many times, each
			// appending a byte.
			if len(in) != 4 {
				return nil, fmt.Errorf("%w: want 4 bytes", enclave.ErrInvalidParameter)
			}
			n := binary.LittleEndian.Uint32(in)
			out := []byte{}
			for range n {
				var err error
				out, err = enclave.Ocall(ctx, 0, out)
				if err != nil {
					return nil, err
				}
			}
			return out, nil
		},
		fnBlock: func(ctx context.Context, in []byte) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		fnPanic: func(ctx context.Context, in []byte) ([]byte, error) {
			panic("enclave-secret-value")
		},
		fnTryOpen: func(ctx context.Context, in []byte) ([]byte, error) {
			f, err := os.Open(string(in))
			if err == nil {
				f.Close()
				return []byte("opened"), nil
			}
			return []byte(errClass(err)), nil
		},
		fnTryDial: func(ctx context.Context, in []byte) ([]byte, error) {
			c, err := net.DialTimeout("tcp", string(in), time.Second)
			if err == nil {
				c.Close()
				return []byte("connected"), nil
			}
			return []byte(errClass(err)), nil
		},
		fnTryExec: func(ctx context.Context, in []byte) ([]byte, error) {
			err := exec.Command(string(in)).Run()
			if err == nil {
				return []byte("ran"), nil
			}
			return []byte(errClass(err)), nil
		},
		fnSecret: func(ctx context.Context, in []byte) ([]byte, error) {
			secret = bytes.Clone(in)
			return nil, nil
		},
		fnExit: func(ctx context.Context, in []byte) ([]byte, error) {
			os.Exit(int(in[0]))
			return nil, nil
		},
		fnIdentity: func(ctx context.Context, in []byte) ([]byte, error) {
			id, err := enclave.Identity()
			if err != nil {
				return nil, err
			}
			return append(id.UniqueID[:], id.SignerID[:]...), nil
		},
		fnPrint: func(ctx context.Context, in []byte) ([]byte, error) {
			return nil, enclave.Print(ctx, string(in))
		},
		fnOcallBackground: func(ctx context.Context, in []byte) ([]byte, error) {
			// An ocall from a goroutine outside any ecall.
			done := make(chan error, 1)
			go func() {
				_, err := enclave.Ocall(context.Background(), 1, in)
				done <- err
			}()
			return nil, <-done
		},
		fnOcallSwitchless: func(ctx context.Context, in []byte) ([]byte, error) {
			return enclave.OcallSwitchless(ctx, 0, in)
		},
		fnSink: func(ctx context.Context, in []byte) ([]byte, error) {
			return binary.LittleEndian.AppendUint32(nil, uint32(len(in))), nil
		},
		fnHTTPSGet: httpsGet,
		fnSpin: func(ctx context.Context, in []byte) ([]byte, error) {
			for ctx.Err() == nil {
			}
			return nil, ctx.Err()
		},
	})
	if err != nil {
		os.Exit(1)
	}
}

func errClass(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission):
		return "permission"
	default:
		return "error: " + err.Error()
	}
}

// httpsGet fetches a URL over TLS that ends inside the enclave, through a
// connection the host relays. in: u32 length of the PEM root, the PEM
// root, then the URL. It returns the response body.
func httpsGet(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) < 4 || uint64(binary.LittleEndian.Uint32(in)) > uint64(len(in)-4) {
		return nil, fmt.Errorf("%w: malformed request", enclave.ErrInvalidParameter)
	}
	n := binary.LittleEndian.Uint32(in)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(in[4 : 4+n]) {
		return nil, fmt.Errorf("%w: no root certificate", enclave.ErrInvalidParameter)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:     enclave.Dial,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, string(in[4+n:]), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
