package host_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/internal/enclavetest"
)

// Exit codes of the peek helper.
const (
	peekFound    = 0  // read the marker from the enclave's memory
	peekDenied   = 10 // the kernel refused access
	peekNotFound = 11 // memory readable, marker not there
	peekError    = 12
)

// peek runs in a helper process: it drops every capability of its thread,
// like an ordinary same-uid process, then tries to read the marker from the
// enclave's memory through /proc/<pid>/mem and to attach with ptrace.
func peek() int {
	runtime.LockOSThread()
	pid, _ := strconv.Atoi(os.Getenv("CONFIDE_PEEK_PID"))
	marker := []byte(os.Getenv("CONFIDE_PEEK_MARKER"))
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fmt.Fprintln(os.Stderr, "capset:", err)
		return peekError
	}
	if os.Getenv("CONFIDE_PEEK_PTRACE") == "1" {
		err := unix.PtraceSeize(pid)
		if err == nil {
			unix.PtraceDetach(pid)
			return peekFound
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return peekDenied
		}
		fmt.Fprintln(os.Stderr, "ptrace:", err)
		return peekError
	}
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return denied(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return denied(err)
	}
	defer mem.Close()
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") {
			continue
		}
		var lo, hi uint64
		fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
		if hi-lo > 1<<30 {
			continue
		}
		buf := make([]byte, hi-lo)
		n, err := mem.ReadAt(buf, int64(lo))
		if err != nil && n == 0 {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				return peekDenied
			}
			continue
		}
		if bytes.Contains(buf[:n], marker) {
			return peekFound
		}
	}
	if len(sc.Bytes()) == 0 && sc.Err() != nil {
		return denied(sc.Err())
	}
	return peekNotFound
}

func denied(err error) int {
	if errors.Is(err, os.ErrPermission) {
		return peekDenied
	}
	fmt.Fprintln(os.Stderr, "peek:", err)
	return peekError
}

func runPeek(t *testing.T, pid int, marker string, ptrace bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONFIDE_HOST_TEST_HELPER=peek",
		"CONFIDE_PEEK_PID="+strconv.Itoa(pid), "CONFIDE_PEEK_MARKER="+marker)
	if ptrace {
		cmd.Env = append(cmd.Env, "CONFIDE_PEEK_PTRACE=1")
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("peek helper: %v\n%s", err, out)
	}
	code := cmd.ProcessState.ExitCode()
	if code == peekError {
		t.Fatalf("peek helper failed:\n%s", out)
	}
	return code
}

// TestMemoryProtection checks that a same-uid process without
// CAP_SYS_PTRACE can neither read a release enclave's memory nor trace it,
// and, as a control, can do both to a debug enclave.
func TestMemoryProtection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		debug bool
		want  int
	}{
		{"release", false, peekDenied},
		{"debug", true, peekFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := enclavetest.Config(1)
			cfg.Debug = tc.debug
			e := load(t, cfg, host.Options{Debug: tc.debug, Stderr: ioDiscard{}})
			marker := fmt.Sprintf("confide-marker-%x", os.Getpid()*7919)
			if _, err := e.Call(context.Background(), enclavetest.FnSecret, []byte(marker)); err != nil {
				t.Fatal(err)
			}
			if got := runPeek(t, e.PID(), marker, false); got != tc.want {
				t.Errorf("reading /proc/%d/mem: helper status %d; want %d", e.PID(), got, tc.want)
			}
			if got := runPeek(t, e.PID(), marker, true); got != tc.want {
				t.Errorf("ptrace attach: helper status %d; want %d", got, tc.want)
			}
		})
	}
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// TestSandbox checks that the enclave cannot open files, create sockets or
// exec programs: all its I/O must go through ocalls.
func TestSandbox(t *testing.T) {
	e := load(t, enclavetest.Config(1), host.Options{})
	for _, tc := range []struct {
		name string
		fn   uint32
		arg  string
	}{
		{"os.Open", enclavetest.FnTryOpen, "/etc/hostname"},
		{"net.Dial", enclavetest.FnTryDial, "127.0.0.1:9"},
		{"exec", enclavetest.FnTryExec, "/bin/true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Call(context.Background(), tc.fn, []byte(tc.arg))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "permission" {
				t.Fatalf("%s inside the enclave = %q; want a permission error", tc.name, got)
			}
		})
	}
}
