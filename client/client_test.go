package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://attest.example", true},
		{"http://127.0.0.1:8080/", true},
		{"ftp://x", false},
		{"attest.example", false},
		{"https://", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			if _, err := New(tc.url, nil); (err == nil) != tc.ok {
				t.Errorf("New(%q) = %v; want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
}

func TestProblemError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(403)
		w.Write([]byte(`{"type":"https://confide.dev/problems/policy-denied","title":"Policy denied the request","status":403,"detail":"d","errors":["a","b"]}`))
	}))
	defer ts.Close()
	c, _ := New(ts.URL, nil)
	_, err := c.Attest(context.Background(), "SgxEnclave", []byte("q"), nil, "")
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Status != 403 || len(pe.Errors) != 2 {
		t.Fatalf("Attest() = %v; want a *ProblemError with status 403 and 2 errors", err)
	}
	ts.Close()
	if _, err := c.Nonce(context.Background()); !errors.Is(err, ErrNetwork) {
		t.Errorf("Nonce(closed server) = %v; want ErrNetwork", err)
	}
}

func TestUnwrapRejects(t *testing.T) {
	for _, in := range []string{"", "a.b.c", "not-a-jws"} {
		if _, err := Unwrap(in, nil, nil); !errors.Is(err, ErrRelease) {
			t.Errorf("Unwrap(%q) = %v; want ErrRelease", in, err)
		}
	}
}

// TestConnectionReuse makes concurrent calls with the default transport:
// they reuse connections instead of dialing a new one for most calls (with
// net/http's default of 2 idle connections per host, each round of 8
// concurrent calls would dial about 6).
func TestConnectionReuse(t *testing.T) {
	var dials atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"nonce":"n"}`))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	c, err := New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 50
	for range rounds {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Nonce(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := dials.Load(); n > 2*workers {
		t.Errorf("%d calls, %d at a time, opened %d connections; want at most %d", workers*rounds, workers, n, 2*workers)
	}
}
