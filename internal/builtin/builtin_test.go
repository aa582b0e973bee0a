package builtin

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// TestMain makes the test binary double as its own built-in enclave, as
// cmd/confide does: SignSelf signs this binary, and a host starts it.
func TestMain(m *testing.M) {
	if enclave.Running() {
		if err := Serve(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEcallsProducts(t *testing.T) {
	tests := []struct {
		name    string
		product uint16
		wantErr error
	}{
		{"bench", ProductBench, nil},
		{"zero", 0, ErrUnknownProduct},
		{"unassigned", 0xFFFF, ErrUnknownProduct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ecalls, err := Ecalls(tt.product)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Ecalls(%#x) error = %v; want %v", tt.product, err, tt.wantErr)
			}
			if tt.wantErr == nil && len(ecalls) != 4 {
				t.Errorf("Ecalls(%#x) has %d functions; want 4", tt.product, len(ecalls))
			}
		})
	}
}

// fakeOcalls records the ocalls made through it.
type fakeOcalls struct {
	calls    int
	payloads [][]byte
	fail     error
}

func (f *fakeOcalls) call(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	if fn != OcallBench {
		return nil, errors.New("unexpected ocall function")
	}
	f.calls++
	f.payloads = append(f.payloads, bytes.Clone(in))
	return nil, f.fail
}

func TestBenchEcalls(t *testing.T) {
	payload := []byte("0123456789abcdef")
	req3, err := OcallsRequest(3, payload)
	if err != nil {
		t.Fatal(err)
	}
	badReserved := bytes.Clone(req3)
	badReserved[5] = 1
	tests := []struct {
		name      string
		fn        uint32
		in        []byte
		want      []byte // nil: check ocalls instead
		wantCalls int
		wantErr   error
	}{
		{"echo", FnEcho, payload, payload, 0, nil},
		{"echo empty", FnEcho, nil, nil, 0, nil},
		{"sink", FnSink, make([]byte, 4096), []byte{0, 0x10, 0, 0, 0, 0, 0, 0}, 0, nil},
		{"sink empty", FnSink, nil, make([]byte, 8), 0, nil},
		{"ocalls", FnOcalls, req3, nil, 3, nil},
		{"ocalls switchless", FnOcallsSwitchless, req3, nil, 3, nil},
		{"ocalls short", FnOcalls, req3[:7], nil, 0, enclave.ErrInvalidParameter},
		{"ocalls reserved", FnOcalls, badReserved, nil, 0, enclave.ErrInvalidParameter},
		{"ocalls zero", FnOcalls, make([]byte, 8), nil, 0, enclave.ErrInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var regular, switchless fakeOcalls
			ecalls := benchEcalls(regular.call, switchless.call)
			out, err := ecalls[tt.fn](context.Background(), tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ecall %d error = %v; want %v", tt.fn, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if tt.fn == FnOcalls || tt.fn == FnOcallsSwitchless {
				used, other := &regular, &switchless
				if tt.fn == FnOcallsSwitchless {
					used, other = &switchless, &regular
				}
				if used.calls != tt.wantCalls || other.calls != 0 {
					t.Fatalf("ecall %d made %d+%d ocalls; want %d on its own path", tt.fn, used.calls, other.calls, tt.wantCalls)
				}
				for i, p := range used.payloads {
					if !bytes.Equal(p, payload) {
						t.Errorf("ocall %d payload = %q; want %q", i, p, payload)
					}
				}
				if _, err := ParseOcallTimes(out, tt.wantCalls); err != nil {
					t.Errorf("ParseOcallTimes(result) error = %v", err)
				}
				return
			}
			if !bytes.Equal(out, tt.want) {
				t.Errorf("ecall %d(%d bytes) = %x; want %x", tt.fn, len(tt.in), out, tt.want)
			}
		})
	}
}

func TestOcallsFailure(t *testing.T) {
	boom := errors.New("boom")
	f := fakeOcalls{fail: boom}
	req, _ := OcallsRequest(5, nil)
	_, err := makeOcalls(context.Background(), req, f.call)
	if !errors.Is(err, boom) || f.calls != 1 {
		t.Errorf("makeOcalls with a failing ocall = %v after %d calls; want boom after 1", err, f.calls)
	}
}

func TestOcallsRequest(t *testing.T) {
	tests := []struct {
		name    string
		count   int
		payload []byte
		wantErr bool
	}{
		{"one empty", 1, nil, false},
		{"max", MaxOcalls, []byte{1, 2, 3}, false},
		{"zero", 0, nil, true},
		{"negative", -1, nil, true},
		{"too many", MaxOcalls + 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := OcallsRequest(tt.count, tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("OcallsRequest(%d) error = %v; want error %v", tt.count, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("OcallsRequest(%d) error = %v; want ErrMalformed", tt.count, err)
				}
				return
			}
			n, p, err := parseOcallsRequest(b)
			if err != nil || n != tt.count || !bytes.Equal(p, tt.payload) {
				t.Errorf("parseOcallsRequest(OcallsRequest(%d, %x)) = %d, %x, %v; want %d, %x, nil", tt.count, tt.payload, n, p, err, tt.count, tt.payload)
			}
		})
	}
}

func TestParseOcallTimes(t *testing.T) {
	le := binary.LittleEndian
	two := le.AppendUint64(le.AppendUint64(nil, 1500), 2_000_000)
	hour := le.AppendUint64(nil, uint64(time.Hour))
	tests := []struct {
		name    string
		out     []byte
		count   int
		want    []time.Duration
		wantErr bool
	}{
		{"two", two, 2, []time.Duration{1500 * time.Nanosecond, 2 * time.Millisecond}, false},
		{"short", two[:15], 2, nil, true},
		{"trailing", append(bytes.Clone(two), 0), 2, nil, true},
		{"count mismatch", two, 1, nil, true},
		{"zero count", nil, 0, nil, true},
		{"an hour", hour, 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOcallTimes(tt.out, tt.count)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("ParseOcallTimes(%x, %d) error = %v; want ErrMalformed", tt.out, tt.count, err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("ParseOcallTimes(%x, %d) = %v, %v; want %v", tt.out, tt.count, got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("ParseOcallTimes(%x, %d)[%d] = %v; want %v", tt.out, tt.count, i, got[i], tt.want[i])
				}
			}
		})
	}
}

// benchConfig is a release config of the bench enclave.
func benchConfig(product uint16) image.Config {
	cfg := image.DefaultConfig()
	cfg.ProductID = product
	cfg.NumTCS = 2
	return cfg
}

func TestSignSelf(t *testing.T) {
	key, err := image.GenerateKey(image.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig(ProductBench)
	path, cleanup, err := SignSelf(cfg, key)
	if err != nil {
		t.Fatalf("SignSelf: %v", err)
	}
	signed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after cleanup, Stat(%s) error = %v; want not exist", path, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(signed)
	if err != nil {
		t.Fatalf("image.Open(SignSelf image): %v", err)
	}
	if img.Config != cfg {
		t.Errorf("signed config = %+v; want %+v", img.Config, cfg)
	}
	if want := image.Measure(bin, cfg); img.Identity.UniqueID != want {
		t.Errorf("UniqueID = %x; want Measure(own executable) %x", img.Identity.UniqueID, want)
	}

	// Signing a signed image again replaces the trailer rather than
	// measuring it: the copy re-signed under another config measures the
	// executable alone.
	cfg2 := benchConfig(0x1234)
	resigned, err := image.Sign(signed, cfg2, key)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := image.Open(resigned)
	if err != nil {
		t.Fatal(err)
	}
	if want := image.Measure(bin, cfg2); img2.Identity.UniqueID != want {
		t.Errorf("re-signed UniqueID = %x; want %x", img2.Identity.UniqueID, want)
	}
}

// loadSelf signs this test binary under cfg and loads it as an enclave.
func loadSelf(t *testing.T, cfg image.Config, opts host.Options) *host.Enclave {
	t.Helper()
	enclavetest.RequireSelfEnclave(t)
	key, err := image.GenerateKey(image.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	path, cleanup, err := SignSelf(cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	opts.SimDir = filepath.Join(t.TempDir(), "sim")
	e, err := host.Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("host.Load(self): %v", err)
	}
	return e
}

func TestBenchEnclave(t *testing.T) {
	var served int
	e := loadSelf(t, benchConfig(ProductBench), host.Options{
		Switchless: &host.SwitchlessOptions{SlotSize: 64 << 10},
		Ocalls: map[uint32]host.OcallFunc{OcallBench: func(ctx context.Context, in []byte) ([]byte, error) {
			if len(in) != 100 {
				return nil, errors.New("wrong payload")
			}
			served++
			return in, nil
		}},
	})
	defer func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close() = %v; want nil (orderly exit 0)", err)
		}
	}()
	ctx := context.Background()
	in := bytes.Repeat([]byte{7}, 100)
	for _, sw := range []bool{false, true} {
		call := e.Call
		if sw {
			call = e.CallSwitchless
		}
		out, err := call(ctx, FnEcho, in)
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("echo (switchless %v) = %x, %v; want the input", sw, out, err)
		}
		out, err = call(ctx, FnSink, in)
		if err != nil || len(out) != 8 || binary.LittleEndian.Uint64(out) != 100 {
			t.Errorf("sink (switchless %v) = %x, %v; want length 100", sw, out, err)
		}
	}
	for _, fn := range []uint32{FnOcalls, FnOcallsSwitchless} {
		served = 0
		req, _ := OcallsRequest(5, in)
		out, err := e.Call(ctx, fn, req)
		if err != nil {
			t.Fatalf("ecall %d: %v", fn, err)
		}
		if _, err := ParseOcallTimes(out, 5); err != nil {
			t.Errorf("ecall %d result: %v", fn, err)
		}
		if served != 5 {
			t.Errorf("ecall %d: host served %d ocalls; want 5", fn, served)
		}
	}
}

func TestUnknownProductExits(t *testing.T) {
	e := loadSelf(t, benchConfig(0x1234), host.Options{CloseTimeout: 10 * time.Second})
	_, err := e.Call(context.Background(), FnEcho, nil)
	if !errors.Is(err, host.ErrEnclaveLost) {
		t.Errorf("Call to an enclave with no built-in table = %v; want ErrEnclaveLost", err)
	}
	var lost *host.LostError
	if err := e.Close(); !errors.As(err, &lost) || lost.ExitCode != 1 {
		t.Errorf("Close() = %v; want a LostError with exit status 1", err)
	}
}

func FuzzParseOcallsRequest(f *testing.F) {
	for _, c := range []struct {
		n int
		p []byte
	}{{1, nil}, {3, []byte("0123456789abcdef")}, {MaxOcalls, make([]byte, 64)}} {
		b, err := OcallsRequest(c.n, c.p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, p, err := parseOcallsRequest(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseOcallsRequest error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := OcallsRequest(n, p)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("OcallsRequest(parseOcallsRequest(%x)) = %x, %v; want the input", in, again, err)
		}
	})
}

func FuzzParseOcallTimes(f *testing.F) {
	var fake fakeOcalls
	for _, n := range []int{1, 4} {
		req, _ := OcallsRequest(n, []byte("x"))
		out, err := makeOcalls(context.Background(), req, fake.call)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out, n)
	}
	f.Fuzz(func(t *testing.T, out []byte, n int) {
		ds, err := ParseOcallTimes(out, n)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseOcallTimes error %v is not ErrMalformed", err)
			}
			return
		}
		if len(ds) != n {
			t.Fatalf("ParseOcallTimes(%d bytes, %d) gave %d durations", len(out), n, len(ds))
		}
		for _, d := range ds {
			if d < 0 || d >= time.Hour {
				t.Fatalf("ParseOcallTimes gave %v", d)
			}
		}
	})
}
