package service

import (
	"errors"
	"testing"
)

func TestCheckPlainHTTPAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"localhost:80", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"10.1.2.3:80", false},
		{"example.com:80", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := CheckPlainHTTPAddr(tc.addr)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrPlainHTTP)) {
				t.Errorf("CheckPlainHTTPAddr(%q) = %v; want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestLoadOrCreateTLSCert(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateTLSCert(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateTLSCert(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Certificate[0]) != string(b.Certificate[0]) {
		t.Errorf("LoadOrCreateTLSCert() made a new certificate on the second call; want the stored one")
	}
}
