//go:build amd64 || arm64

package harden

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv selects a helper mode when the test binary is re-executed.
const helperEnv = "CONFIDE_HARDEN_HELPER"

// runBPF interprets the subset of classic BPF that filter emits, on a
// seccomp_data built from nr and arch, and returns the action.
func runBPF(t *testing.T, prog []unix.SockFilter, nr, arch uint32) uint32 {
	t.Helper()
	var data [64]byte // struct seccomp_data
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], arch)
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				t.Fatalf("instruction %d loads from offset %d", pc, in.K)
			}
			a = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if a >= in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d has unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatalf("program ran off its end")
	return 0
}

func TestFilter(t *testing.T) {
	prog, err := filter()
	if err != nil {
		t.Fatalf("filter() error: %v", err)
	}
	if len(prog) > 4096 { // BPF_MAXINSNS
		t.Fatalf("len(filter()) = %d; want <= 4096", len(prog))
	}
	for i, in := range prog {
		if in.Code&0x07 == unix.BPF_JMP && (i+1+int(in.Jt) >= len(prog) || i+1+int(in.Jf) >= len(prog)) {
			t.Errorf("instruction %d jumps past the end", i)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		t.Errorf("last instruction code = %#x; want a return", last.Code)
	}

	const (
		allow = unix.SECCOMP_RET_ALLOW
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		kill  = unix.SECCOMP_RET_KILL_PROCESS
	)
	type tc struct {
		name string
		nr   uint32
		arch uint32
		want uint32
	}
	// The brief's required denials and the runtime's required calls, named
	// independently of deniedSyscalls.
	tests := []tc{
		{"openat", unix.SYS_OPENAT, auditArch, eperm},
		{"openat2", unix.SYS_OPENAT2, auditArch, eperm},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, auditArch, eperm},
		{"socket", unix.SYS_SOCKET, auditArch, eperm},
		{"socketpair", unix.SYS_SOCKETPAIR, auditArch, eperm},
		{"execve", unix.SYS_EXECVE, auditArch, eperm},
		{"execveat", unix.SYS_EXECVEAT, auditArch, eperm},
		{"ptrace", unix.SYS_PTRACE, auditArch, eperm},
		{"process_vm_readv", unix.SYS_PROCESS_VM_READV, auditArch, eperm},
		{"process_vm_writev", unix.SYS_PROCESS_VM_WRITEV, auditArch, eperm},
		{"mount", unix.SYS_MOUNT, auditArch, eperm},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, auditArch, eperm},
		{"unlinkat", unix.SYS_UNLINKAT, auditArch, eperm},
		{"read", unix.SYS_READ, auditArch, allow},
		{"write", unix.SYS_WRITE, auditArch, allow},
		{"close", unix.SYS_CLOSE, auditArch, allow},
		{"mmap", unix.SYS_MMAP, auditArch, allow},
		{"munmap", unix.SYS_MUNMAP, auditArch, allow},
		{"futex", unix.SYS_FUTEX, auditArch, allow},
		{"clone", unix.SYS_CLONE, auditArch, allow},
		{"sigaltstack", unix.SYS_SIGALTSTACK, auditArch, allow},
		{"rt_sigreturn", unix.SYS_RT_SIGRETURN, auditArch, allow},
		{"epoll_pwait", unix.SYS_EPOLL_PWAIT, auditArch, allow},
		{"recvmsg", unix.SYS_RECVMSG, auditArch, allow},
		{"sendmsg", unix.SYS_SENDMSG, auditArch, allow},
		{"fcntl", unix.SYS_FCNTL, auditArch, allow},
		{"prctl", unix.SYS_PRCTL, auditArch, allow},
		{"capget", unix.SYS_CAPGET, auditArch, allow},
		{"exit_group", unix.SYS_EXIT_GROUP, auditArch, allow},
		{"getpid_foreign_arch", unix.SYS_GETPID, 0x40000003 /* AUDIT_ARCH_I386 */, kill},
		{"read_foreign_arch", unix.SYS_READ, 0x40000028 /* AUDIT_ARCH_ARM */, kill},
	}
	if runtime.GOARCH == "amd64" {
		tests = append(tests,
			tc{"x32_read", 0x40000000 | unix.SYS_READ, auditArch, eperm},
			tc{"x32_high", 0x7fffffff, auditArch, eperm},
		)
	}
	for _, c := range deniedSyscalls() {
		tests = append(tests, tc{"listed_" + c.name, c.nr, auditArch, eperm})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runBPF(t, prog, tt.nr, tt.arch); got != tt.want {
				t.Errorf("filter(nr=%d, arch=%#x) = %#x; want %#x", tt.nr, tt.arch, got, tt.want)
			}
		})
	}
}

func TestApplyOptions(t *testing.T) {
	// Rejected before anything changes, so it is safe in the test process.
	err := Apply(Options{KeepFDs: []int{3, -1}})
	if !errors.Is(err, ErrOptions) {
		t.Fatalf("Apply(KeepFDs -1) = %v; want ErrOptions", err)
	}
}

func TestApplyCgo(t *testing.T) {
	// Only a binary that links cgo (any -race build) can run this safely:
	// elsewhere Apply would harden the test process itself.
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0); e != syscall.ENOTSUP {
		t.Skip("test binary does not link cgo; run with -race to exercise ErrThreads")
	}
	requireSeccomp(t)
	t.Setenv("CONFIDE_HARDEN_PROBE", "1")
	before, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(Options{}); !errors.Is(err, ErrThreads) {
		t.Fatalf("Apply() in a cgo binary = %v; want ErrThreads", err)
	}
	after, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	if after != before || os.Getenv("CONFIDE_HARDEN_PROBE") != "1" {
		t.Errorf("Apply() changed the process before failing: Status() = %v; want %v", after, before)
	}
}

// procStatus parses /proc/<pid>/status-style "Key:\tvalue" lines.
func procStatus(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func hexField(t *testing.T, m map[string]string, k string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(m[k], 16, 64)
	if err != nil {
		t.Fatalf("status field %s = %q: %v", k, m[k], err)
	}
	return v
}

// requireSeccomp skips when the kernel has no seccomp.
func requireSeccomp(t *testing.T) {
	t.Helper()
	if _, ok := procStatus(t, "/proc/self/status")["Seccomp"]; !ok {
		t.Skip("kernel without seccomp: /proc/self/status has no Seccomp field")
	}
}

func TestStatusUnhardened(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	got, err := Status()
	if err != nil {
		t.Fatalf("Status() error: %v", err)
	}
	m := procStatus(t, "/proc/thread-self/status")
	want := State{
		Dumpable:       true, // a test binary run by its owner
		NoNewPrivs:     m["NoNewPrivs"] == "1",
		CapEffective:   hexField(t, m, "CapEff"),
		CapPermitted:   hexField(t, m, "CapPrm"),
		CapInheritable: hexField(t, m, "CapInh"),
		CapBounding:    hexField(t, m, "CapBnd"),
		CapAmbient:     hexField(t, m, "CapAmb"),
	}
	if s, ok := m["Seccomp"]; ok {
		n, _ := strconv.Atoi(s)
		want.Seccomp = SeccompMode(n)
	}
	// Max core file size from /proc/self/limits: "Max core file size  soft  hard  bytes".
	lim, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(lim), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max core file size"); ok {
			f := strings.Fields(rest)
			want.CoreSoft, want.CoreHard = limit(t, f[0]), limit(t, f[1])
		}
	}
	if got != want {
		t.Errorf("Status() = %v; want %v", got, want)
	}
	if got.Sandboxed() || got.Hardened() {
		t.Errorf("Status() of the test process reports hardening: %v", got)
	}
}

func limit(t *testing.T, s string) uint64 {
	if s == "unlimited" {
		return unix.RLIM_INFINITY
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// buildChild builds testdata/hardenchild without cgo and returns its path.
func buildChild(t testing.TB) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out := filepath.Join(t.TempDir(), "hardenchild")
	cmd := exec.Command(goTool, "build", "-o", out, "./testdata/hardenchild")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hardenchild: %v\n%s", err, b)
	}
	return out
}

type opResult struct {
	Err   string
	Perm  bool
	EPERM bool
}

type sandboxReport struct {
	Before, After State
	ApplyErr      string
	Reply         string
	Ops           map[string]opResult
	Fd3Open       bool
	Fd4Errno      int
	Env           int
	Sum           int
	Slept         bool
}

func TestSandbox(t *testing.T) {
	requireSeccomp(t)
	parent, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildChild(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "sandbox", dir)
	cmd.ExtraFiles = []*os.File{theirs, pr} // fd 3 kept, fd 4 inherited and not kept
	cmd.Env = []string{"CONFIDE_HARDEN_TEST=1"}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	pr.Close()
	defer cmd.Process.Kill()

	buf := make([]byte, 64)
	recv := func() string {
		t.Helper()
		if err := ours.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		n, err := ours.Read(buf)
		if err != nil {
			t.Fatalf("read from child: %v (stderr: %s)", err, stderr.String())
		}
		return string(buf[:n])
	}
	if got := recv(); got != "ready" {
		t.Fatalf("child said %q; want %q", got, "ready")
	}

	// Every thread of the hardened child, as the kernel reports it.
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child has %d threads", len(tasks))
	for _, task := range tasks {
		m := procStatus(t, fmt.Sprintf("/proc/%d/task/%s/status", cmd.Process.Pid, task.Name()))
		if m["Seccomp"] != "2" || m["NoNewPrivs"] != "1" {
			t.Errorf("thread %s: Seccomp=%s NoNewPrivs=%s; want 2 and 1", task.Name(), m["Seccomp"], m["NoNewPrivs"])
		}
		for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"} {
			if v := hexField(t, m, k); v != 0 {
				t.Errorf("thread %s: %s = %#x; want 0", task.Name(), k, v)
			}
		}
	}

	if _, err := ours.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := recv()
	if got != "pong:ping" {
		t.Errorf("child replied %q; want %q", got, "pong:ping")
	}
	if _, err := ours.Write([]byte("ack:" + got)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; stderr: %s", err, stderr.String())
	}
	var r sandboxReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("child report %q: %v", stdout.String(), err)
	}
	if r.ApplyErr != "" {
		t.Fatalf("Apply() in child: %s", r.ApplyErr)
	}

	t.Run("status", func(t *testing.T) {
		// Before Apply the child has what it inherited from this process.
		if r.Before.Sandboxed() || !r.Before.Dumpable || r.Before.NoNewPrivs != parent.NoNewPrivs ||
			r.Before.Seccomp != parent.Seccomp || r.Before.CapBounding != parent.CapBounding {
			t.Errorf("Status() before Apply = %v; want dumpable, unsandboxed, as inherited from %v", r.Before, parent)
		}
		want := State{Seccomp: SeccompFilter, NoNewPrivs: true}
		if r.After != want {
			t.Errorf("Status() after Apply = %v; want %v", r.After, want)
		}
		if !r.After.Hardened() {
			t.Errorf("Status().Hardened() after Apply = false; want true")
		}
	})
	t.Run("boundary", func(t *testing.T) {
		if r.Reply != "ack:pong:ping" {
			t.Errorf("child received %q; want %q", r.Reply, "ack:pong:ping")
		}
		if !r.Fd3Open {
			t.Errorf("kept fd 3 closed; want open")
		}
		if r.Fd4Errno != int(syscall.EBADF) {
			t.Errorf("fcntl(inherited fd 4) errno = %d; want EBADF (%d)", r.Fd4Errno, syscall.EBADF)
		}
		if r.Env != 0 {
			t.Errorf("len(os.Environ()) after Apply = %d; want 0", r.Env)
		}
	})
	t.Run("work", func(t *testing.T) {
		// 16 goroutines each sum bytes 0..255 repeated over 1 MiB.
		want := 16 * (1 << 20 / 256) * (255 * 256 / 2)
		if r.Sum != want || !r.Slept {
			t.Errorf("goroutine sum = %d, slept = %t; want %d, true", r.Sum, r.Slept, want)
		}
	})
	ops := []string{"open", "create", "mkdir", "remove", "rename", "dial", "listen", "socketpair", "exec", "ptrace_traceme", "io_uring_setup"}
	if runtime.GOARCH == "amd64" {
		ops = append(ops, "x32_getpid")
	}
	for _, op := range ops {
		t.Run("deny_"+op, func(t *testing.T) {
			got, ok := r.Ops[op]
			if !ok {
				t.Fatalf("child did not try %s", op)
			}
			if !got.Perm || !got.EPERM {
				t.Errorf("%s in hardened child: err = %q; want EPERM (os.ErrPermission)", op, got.Err)
			}
		})
	}
	t.Run("files_untouched", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
			t.Errorf("keep: %v; want it still there", err)
		}
		for _, name := range []string{"created", "made", "moved"} {
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) = %v; want not exist", name, err)
			}
		}
	})
}

type errInfo struct {
	Err   string
	Errno int
}

func info(err error) errInfo {
	if err == nil {
		return errInfo{}
	}
	var e syscall.Errno
	errors.As(err, &e)
	return errInfo{Err: err.Error(), Errno: int(e)}
}

type readerReport struct {
	CapEff  uint64
	MemOpen errInfo
	MemRead string // hex
	Seize   errInfo
	Attach  errInfo // tried only when Seize failed
}

// TestHelperProcess is not a test: re-executed with helperEnv=reader it
// drops every capability of its thread, then tries to read another
// process's memory and to ptrace it, and prints a readerReport.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "reader" {
		t.Skip("helper process; run by TestMemoryProtection")
	}
	runtime.LockOSThread() // never unlocked: the thread dies with the process
	pid, _ := strconv.Atoi(os.Getenv("CONFIDE_HARDEN_PID"))
	addr, _ := strconv.ParseUint(os.Getenv("CONFIDE_HARDEN_ADDR"), 10, 64)
	n, _ := strconv.Atoi(os.Getenv("CONFIDE_HARDEN_LEN"))
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fmt.Fprintln(os.Stderr, "capset:", err)
		os.Exit(3)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		fmt.Fprintln(os.Stderr, "capget:", err)
		os.Exit(3)
	}
	var r readerReport
	r.CapEff = uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/mem", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	r.MemOpen = info(err)
	if err == nil {
		buf := make([]byte, n)
		if m, err := unix.Pread(fd, buf, int64(addr)); err == nil {
			r.MemRead = hex.EncodeToString(buf[:m])
		}
		unix.Close(fd)
	}
	r.Seize = info(unix.PtraceSeize(pid))
	if r.Seize.Err != "" {
		r.Attach = info(unix.PtraceAttach(pid))
	}
	json.NewEncoder(os.Stdout).Encode(&r)
	os.Exit(0) // before the testing package prints anything
}

type secretReport struct {
	Pid      int
	Addr     uint64
	ApplyErr string
	After    State
}

func TestMemoryProtection(t *testing.T) {
	requireSeccomp(t)
	bin := buildChild(t)
	for _, tt := range []struct {
		name  string
		debug bool
	}{
		{"hardened", false},
		{"debug_control", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.debug {
				// Yama (ptrace_scope >= 1) lets only ancestors attach; the
				// reader is a sibling, so the control could not succeed.
				if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) != "0" {
					t.Skipf("Yama ptrace_scope=%s forbids sibling ptrace; the control needs 0", strings.TrimSpace(string(b)))
				}
			}
			marker := make([]byte, 32)
			rand.Read(marker)
			args := []string{"secret"}
			if tt.debug {
				args = append(args, "-debug")
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = []string{}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			fmt.Fprintf(stdin, "%x\n", marker)
			var s secretReport
			if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&s); err != nil {
				t.Fatalf("child report: %v; stderr: %s", err, stderr.String())
			}
			if s.ApplyErr != "" {
				t.Fatalf("Apply(Debug: %t) in child: %s", tt.debug, s.ApplyErr)
			}
			if s.After.Dumpable != tt.debug || !s.After.Sandboxed() {
				t.Fatalf("Status() after Apply(Debug: %t) = %v; want dumpable=%t, sandboxed", tt.debug, s.After, tt.debug)
			}

			reader := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			reader.Env = []string{
				helperEnv + "=reader",
				"CONFIDE_HARDEN_PID=" + strconv.Itoa(s.Pid),
				"CONFIDE_HARDEN_ADDR=" + strconv.FormatUint(s.Addr, 10),
				"CONFIDE_HARDEN_LEN=" + strconv.Itoa(len(marker)),
			}
			out, err := reader.Output()
			if err != nil {
				t.Fatalf("reader: %v; output %q", err, out)
			}
			var r readerReport
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("reader report %q: %v", out, err)
			}
			if r.CapEff != 0 {
				t.Fatalf("reader CapEff = %#x; want 0", r.CapEff)
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("child: %v; stderr: %s", err, stderr.String())
			}

			if tt.debug {
				// Control: the same reader succeeds when the hardening is off.
				if r.MemOpen.Err != "" || r.MemRead != hex.EncodeToString(marker) {
					t.Errorf("capless read of debug child: open %q, read %q; want the marker %x", r.MemOpen.Err, r.MemRead, marker)
				}
				if r.Seize.Err != "" {
					t.Errorf("PTRACE_SEIZE of debug child = %q; want success", r.Seize.Err)
				}
				return
			}
			if e := syscall.Errno(r.MemOpen.Errno); e != syscall.EACCES && e != syscall.EPERM {
				t.Errorf("open /proc/%d/mem = %q; want EACCES or EPERM", s.Pid, r.MemOpen.Err)
			}
			if r.MemRead != "" {
				t.Errorf("read the hardened child's memory: %s", r.MemRead)
			}
			if syscall.Errno(r.Seize.Errno) != syscall.EPERM {
				t.Errorf("PTRACE_SEIZE = %q; want EPERM", r.Seize.Err)
			}
			if syscall.Errno(r.Attach.Errno) != syscall.EPERM {
				t.Errorf("PTRACE_ATTACH = %q; want EPERM", r.Attach.Err)
			}
		})
	}
}

// BenchmarkSyscall measures getpid, an allowed call that the filter checks
// against every rule, in the child before Apply (the baseline) and after.
// ns/op is dominated by starting the child; read the two metrics.
func BenchmarkSyscall(b *testing.B) {
	bin := buildChild(b)
	b.ResetTimer()
	out, err := exec.Command(bin, "bench", strconv.Itoa(b.N)).Output()
	if err != nil {
		b.Fatalf("child: %v", err)
	}
	var r struct{ Baseline, Filtered int64 }
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("child report %q: %v", out, err)
	}
	b.ReportMetric(float64(r.Baseline)/float64(b.N), "ns/getpid-unfiltered")
	b.ReportMetric(float64(r.Filtered)/float64(b.N), "ns/getpid-filtered")
}
