package benchboundary

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
	"github.com/confide-dev/confide/internal/enclavetest"
)

const peerEnv = "CONFIDE_BENCHBOUNDARY_PEER"

// TestMain makes the test binary double as the bench enclave (signed by
// Run with builtin.SignSelf) and as the socket-pair peer.
func TestMain(m *testing.M) {
	if enclave.Running() {
		if err := builtin.Serve(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if v := os.Getenv(peerEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			os.Exit(2)
		}
		var files []*os.File
		for i := range n {
			files = append(files, os.NewFile(uintptr(3+i), "peer"))
		}
		if err := ServePeer(files); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testPeer(sockets int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+strconv.Itoa(sockets))
	return cmd
}

// checkRows checks the shape and the internal consistency of a report.
func checkRows(t *testing.T, rep *Report, kinds []Kind, callers, payloads []int, echo bool) {
	t.Helper()
	if want := len(kinds) * len(callers) * len(payloads); len(rep.Rows) != want {
		t.Fatalf("Run gave %d rows; want %d", len(rep.Rows), want)
	}
	i := 0
	for _, k := range kinds {
		for _, c := range callers {
			for _, p := range payloads {
				row := rep.Rows[i]
				i++
				if row.Kind != k || row.Callers != c || row.Payload != p {
					t.Errorf("row %d is %s/%d/%d; want %s/%d/%d", i, row.Kind, row.Payload, row.Callers, k, p, c)
					continue
				}
				if row.Calls == 0 || row.P50 <= 0 || row.P50 > row.P99 || row.P99 > row.Max || row.CallsPerSec <= 0 {
					t.Errorf("row %s/%d/%d is inconsistent: %+v", k, p, c, row)
				}
				moved := float64(p)
				if echo {
					moved *= 2
				}
				if k == KindFunc {
					moved = 0
				}
				if math.Abs(row.BytesPerSec-row.CallsPerSec*moved) > 1e-6*row.BytesPerSec {
					t.Errorf("row %s/%d/%d: BytesPerSec = %v; want CallsPerSec × %v", k, p, c, row.BytesPerSec, moved)
				}
			}
		}
	}
}

func TestRun(t *testing.T) {
	enclavetest.RequireSelfEnclave(t)
	for _, echo := range []bool{false, true} {
		t.Run(map[bool]string{false: "sink", true: "echo"}[echo], func(t *testing.T) {
			opts := Options{
				Duration: 20 * time.Millisecond,
				Payloads: []int{0, 4096, 1 << 20},
				Callers:  []int{1, 2},
				Echo:     echo,
				Peer:     testPeer,
				Now:      func() time.Time { return time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC) },
			}
			rep, err := Run(context.Background(), opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkRows(t, rep, Kinds, opts.Callers, opts.Payloads, echo)
			if rep.Echo != echo || rep.Duration != opts.Duration || rep.MaxCalls != DefaultMaxCalls || !rep.Date.Equal(opts.Now()) {
				t.Errorf("report header = %v %v %v %v; want the options", rep.Echo, rep.Duration, rep.MaxCalls, rep.Date)
			}
			// The issue fixes the switchless settings: one worker on
			// each side and 2 MiB slots.
			if want := (SwitchlessSettings{EnclaveWorkers: 1, HostWorkers: 1, SlotSize: 2 << 20}); rep.Switchless != want {
				t.Errorf("report Switchless = %+v; want %+v", rep.Switchless, want)
			}
			if rep.Machine.Cores < 1 || rep.Machine.GoVersion == "" {
				t.Errorf("Machine = %+v; want cores and Go version", rep.Machine)
			}
			if _, ok := rep.Row(KindEcallSwitchless, 1<<20, 2); !ok {
				t.Errorf("Row(ecall-switchless, 1 MiB, 2) not found")
			}
			var buf bytes.Buffer
			if err := rep.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Count(buf.String(), "\n"), 3+len(rep.Rows); got != want {
				t.Errorf("WriteText wrote %d lines; want %d:\n%s", got, want, buf.String())
			}
		})
	}
}

func TestRunMaxCalls(t *testing.T) {
	const maxCalls = 50
	tests := []struct {
		name    string
		kind    Kind
		callers int
		batch   int
	}{
		{"func", KindFunc, 1, 1},
		{"func concurrent", KindFunc, 4, 1},
		{"socketpair", KindSocketPair, 2, 1},
		{"ocall", KindOcall, 1, ocallBatch(64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind != KindFunc && tt.kind != KindSocketPair {
				enclavetest.RequireSelfEnclave(t)
			}
			// The duration bound is far away: the count bound ends the row.
			rep, err := Run(context.Background(), Options{
				Duration: time.Hour, MaxCalls: maxCalls, Payloads: []int{64}, Callers: []int{tt.callers},
				Kinds: []Kind{tt.kind}, Peer: testPeer,
			})
			if err != nil {
				t.Fatal(err)
			}
			// Each caller checks the bound before a call, so at most one
			// call (batch) per other caller overshoots it.
			if got, limit := rep.Rows[0].Calls, uint64(maxCalls+(tt.callers-1)*tt.batch+tt.batch-1); got < maxCalls || got > limit {
				t.Errorf("%s row with MaxCalls %d measured %d calls; want %d..%d", tt.kind, maxCalls, got, maxCalls, limit)
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Options{Duration: time.Hour, Kinds: []Kind{KindFunc}, Callers: []int{1}, Payloads: []int{0}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run(canceled) = %v; want context.Canceled", err)
	}
}

func TestRunOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"negative duration", Options{Duration: -1}},
		{"negative max calls", Options{MaxCalls: -1}},
		{"payload too large", Options{Payloads: []int{MaxPayload + 1}, Kinds: []Kind{KindFunc}}},
		{"negative payload", Options{Payloads: []int{-1}, Kinds: []Kind{KindFunc}}},
		{"no callers", Options{Callers: []int{0}, Kinds: []Kind{KindFunc}}},
		{"too many callers", Options{Callers: []int{MaxCallers + 1}, Kinds: []Kind{KindFunc}}},
		{"empty payloads", Options{Payloads: []int{}, Kinds: []Kind{KindFunc}}},
		{"unknown kind", Options{Kinds: []Kind{"teleport"}}},
		{"socketpair without peer", Options{Kinds: []Kind{KindSocketPair}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.opts); !errors.Is(err, ErrOptions) {
				t.Errorf("Run(%+v) = %v; want ErrOptions", tt.opts, err)
			}
		})
	}
}

func TestRunWrongImage(t *testing.T) {
	enclavetest.RequireSelfEnclave(t)
	key, err := image.GenerateKey(image.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cfg := EnclaveConfig(1)
	cfg.ProductID = 0x1234
	path, cleanup, err := builtin.SignSelf(cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	_, err = Run(context.Background(), Options{Image: path, SimDir: t.TempDir(), Kinds: []Kind{KindEcall}, Callers: []int{1}, Payloads: []int{0}})
	if !errors.Is(err, ErrOptions) {
		t.Errorf("Run with an image of another product = %v; want ErrOptions", err)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ParseKind(string(k)); got != k || err != nil {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", k, got, err, k)
		}
	}
	if _, err := ParseKind("ECALL"); !errors.Is(err, ErrOptions) {
		t.Errorf("ParseKind(ECALL) error = %v; want ErrOptions", err)
	}
}

func TestEnclaveConfig(t *testing.T) {
	for _, c := range []int{1, 4, 9} {
		cfg := EnclaveConfig(c)
		if cfg.ProductID != builtin.ProductBench || int(cfg.NumTCS) < c || cfg.Debug || cfg.Validate() != nil {
			t.Errorf("EnclaveConfig(%d) = %+v; want a valid release bench config with at least %d TCS", c, cfg, c)
		}
	}
}

func TestPeer(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		echo    bool
		want    []byte // reply payload
	}{
		{"sink empty", nil, false, sinkResult(0)},
		{"sink", make([]byte, 5000), false, sinkResult(5000)},
		{"echo", []byte("hello, peer"), true, []byte("hello, peer")},
		{"echo empty", nil, true, nil},
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServePeer([]*os.File{os.NewFile(uintptr(fds[1]), "peer")}) }()
	fd := fds[0]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := make([]byte, peerHeader, peerHeader+len(tt.payload))
			putPeerHeader(req, len(tt.payload), tt.echo)
			if err := writeFull(fd, append(req, tt.payload...)); err != nil {
				t.Fatal(err)
			}
			hdr := make([]byte, peerHeader)
			if err := readFull(fd, hdr); err != nil {
				t.Fatal(err)
			}
			n, echo, err := parsePeerHeader(hdr)
			if err != nil || echo {
				t.Fatalf("reply header %x: %d, %v, %v", hdr, n, echo, err)
			}
			got := make([]byte, n)
			if err := readFull(fd, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("peer reply = %x; want %x", got, tt.want)
			}
		})
	}
	t.Run("bad header", func(t *testing.T) {
		bad := make([]byte, peerHeader)
		putPeerHeader(bad, 1, false)
		bad[4] = 0x80 // unknown flag
		if err := writeFull(fd, bad); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrPeerProtocol) {
			t.Errorf("ServePeer after a bad header = %v; want ErrPeerProtocol", err)
		}
		unix.Close(fd)
	})
}

func TestParsePeerHeader(t *testing.T) {
	tests := []struct {
		name     string
		hdr      []byte
		wantN    int
		wantEcho bool
		wantErr  bool
	}{
		{"sink 64", []byte{64, 0, 0, 0, 0, 0, 0, 0}, 64, false, false},
		{"echo 1 MiB", []byte{0, 0, 0x10, 0, 1, 0, 0, 0}, 1 << 20, true, false},
		{"max", []byte{0, 0, 0, 4, 0, 0, 0, 0}, maxPeerPayload, false, false},
		{"over max", []byte{1, 0, 0, 4, 0, 0, 0, 0}, 0, false, true},
		{"unknown flag", []byte{0, 0, 0, 0, 2, 0, 0, 0}, 0, false, true},
		{"short", []byte{0, 0, 0, 0, 0, 0, 0}, 0, false, true},
		{"long", make([]byte, 9), 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, echo, err := parsePeerHeader(tt.hdr)
			if tt.wantErr {
				if !errors.Is(err, ErrPeerProtocol) {
					t.Errorf("parsePeerHeader(%x) error = %v; want ErrPeerProtocol", tt.hdr, err)
				}
				return
			}
			if n != tt.wantN || echo != tt.wantEcho || err != nil {
				t.Errorf("parsePeerHeader(%x) = %d, %v, %v; want %d, %v, nil", tt.hdr, n, echo, err, tt.wantN, tt.wantEcho)
			}
		})
	}
}

func FuzzParsePeerHeader(f *testing.F) {
	for _, c := range []struct {
		n    int
		echo bool
	}{{0, false}, {64, false}, {4096, true}, {1 << 20, true}} {
		b := make([]byte, peerHeader)
		putPeerHeader(b, c.n, c.echo)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, echo, err := parsePeerHeader(b)
		if err != nil {
			if !errors.Is(err, ErrPeerProtocol) {
				t.Fatalf("parsePeerHeader error %v is not ErrPeerProtocol", err)
			}
			return
		}
		again := make([]byte, peerHeader)
		putPeerHeader(again, n, echo)
		if !bytes.Equal(again, b) || n > maxPeerPayload {
			t.Fatalf("parsePeerHeader(%x) = %d, %v; re-encodes as %x", b, n, echo, again)
		}
	})
}

func TestCheckResult(t *testing.T) {
	tests := []struct {
		name string
		out  []byte
		n    int
		echo bool
		ok   bool
	}{
		{"sink", sinkResult(64), 64, false, true},
		{"sink wrong length", sinkResult(63), 64, false, false},
		{"sink short", sinkResult(64)[:7], 64, false, false},
		{"echo", make([]byte, 64), 64, true, true},
		{"echo short", make([]byte, 63), 64, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkResult(tt.out, tt.n, tt.echo)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrWrongResult)) {
				t.Errorf("checkResult(%x, %d, %v) = %v; want ok %v", tt.out, tt.n, tt.echo, err, tt.ok)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	sizes := []struct {
		n    int
		want string
	}{{0, "0 B"}, {64, "64 B"}, {4096, "4 KiB"}, {1 << 20, "1 MiB"}, {1500, "1500 B"}}
	for _, s := range sizes {
		if got := FormatSize(s.n); got != s.want {
			t.Errorf("FormatSize(%d) = %q; want %q", s.n, got, s.want)
		}
	}
	durs := []struct {
		d    time.Duration
		want string
	}{
		{812, "812ns"},
		{4130, "4.13µs"},
		{41300, "41.3µs"},
		{413000, "413µs"},
		{1250 * time.Microsecond, "1.25ms"},
		{2 * time.Second, "2.00s"},
	}
	for _, d := range durs {
		if got := FormatDuration(d.d); got != d.want {
			t.Errorf("FormatDuration(%d) = %q; want %q", d.d, got, d.want)
		}
	}
}

func TestMachineRows(t *testing.T) {
	m := ReadMachine()
	if m.Cores < 1 || m.OS == "" || m.Arch == "" || !slices.Contains([]int{0, 3}, len(strings.Fields(m.LoadAvg))) {
		t.Errorf("ReadMachine() = %+v", m)
	}
}

// benchKind runs b.N calls of kind with 1 caller for each payload size,
// through the same callers as Run, without the histogram's percentiles.
// Ocall kinds count one ocall per iteration (b.N is divided into
// batches).
func benchKind(b *testing.B, kind Kind) {
	o, err := Options{Peer: testPeer, Callers: []int{1}}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	r := &runner{opts: o}
	defer r.close()
	ctx := context.Background()
	for _, p := range []int{64, 1 << 20} {
		b.Run(FormatSize(p), func(b *testing.B) {
			mk, err := r.callers(ctx, kind, p, 1)
			if err != nil {
				b.Fatal(err)
			}
			call := mk(0)
			var h Histogram
			if kind != KindFunc {
				b.SetBytes(int64(p))
			}
			b.ResetTimer()
			for n := 0; n < b.N; {
				m, err := call(ctx, &h)
				if err != nil {
					b.Fatal(err)
				}
				n += m
			}
		})
	}
}

// BenchmarkSocketPair is the baseline of the boundary benchmarks below: a
// raw request/response with a second process.
func BenchmarkSocketPair(b *testing.B) { benchKind(b, KindSocketPair) }

// BenchmarkFunc is the in-process floor.
func BenchmarkFunc(b *testing.B) { benchKind(b, KindFunc) }

// BenchmarkEcall is a regular ecall of the bench enclave (FnSink).
func BenchmarkEcall(b *testing.B) { benchKind(b, KindEcall) }

// BenchmarkEcallSwitchless is a switchless ecall (FnSink).
func BenchmarkEcallSwitchless(b *testing.B) { benchKind(b, KindEcallSwitchless) }

// BenchmarkOcall is a regular ocall made by the bench enclave.
func BenchmarkOcall(b *testing.B) { benchKind(b, KindOcall) }
