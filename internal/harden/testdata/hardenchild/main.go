// Command hardenchild is the hardened process of the harden package's
// tests. It is built with CGO_ENABLED=0 (so that Apply can reach every
// thread; a test binary built with -race always links cgo) and run in one
// of two modes:
//
//	hardenchild sandbox DIR   fd 3 is a kept socket, fd 4 an inherited pipe;
//	                          Apply, talk over fd 3, try denied operations,
//	                          print a JSON report on stdout
//	hardenchild bench N        time N getpid calls before Apply and after
//	hardenchild secret [-debug]
//	                          read a hex marker line from stdin, keep it in
//	                          memory, Apply, print its address as JSON, wait
//	                          for stdin to close
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/confide-dev/confide/internal/harden"
	"golang.org/x/sys/unix"
)

// result is the outcome of one operation.
type result struct {
	Err   string `json:"err,omitempty"`
	Perm  bool   `json:"perm"`  // errors.Is(err, os.ErrPermission)
	EPERM bool   `json:"eperm"` // errors.Is(err, syscall.EPERM)
}

func outcome(err error) result {
	if err == nil {
		return result{}
	}
	return result{Err: err.Error(), Perm: errors.Is(err, os.ErrPermission), EPERM: errors.Is(err, syscall.EPERM)}
}

func errno(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

type sandboxReport struct {
	Before, After harden.State
	ApplyErr      string
	Reply         string            // what the peer sent over fd 3, as received
	Ops           map[string]result // denied operations
	Fd3Open       bool              // the kept descriptor
	Fd4Errno      int               // errno of fcntl on the inherited, unkept pipe
	Env           int               // len(os.Environ()) after Apply
	Sum           int               // from goroutines
	Slept         bool
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: hardenchild sandbox DIR | secret [-debug]"))
	}
	switch os.Args[1] {
	case "sandbox":
		sandbox(os.Args[2])
	case "bench":
		bench(os.Args[2])
	case "secret":
		secret(len(os.Args) > 2 && os.Args[2] == "-debug")
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hardenchild:", err)
	os.Exit(1)
}

func sandbox(dir string) {
	var r sandboxReport
	var err error
	if r.Before, err = harden.Status(); err != nil {
		fail(err)
	}
	if err := harden.Apply(harden.Options{KeepFDs: []int{3}}); err != nil {
		r.ApplyErr = err.Error()
	}
	if r.After, err = harden.Status(); err != nil {
		fail(err)
	}

	// Descriptors, before anything here opens one that could reuse 4.
	_, err = unix.FcntlInt(3, unix.F_GETFD, 0)
	r.Fd3Open = err == nil
	if _, err := unix.FcntlInt(4, unix.F_GETFD, 0); err != nil {
		var e syscall.Errno
		if errors.As(err, &e) {
			r.Fd4Errno = int(e)
		}
	}

	// The kept socket, raw: announce readiness and receive a message.
	if err := unix.Sendmsg(3, []byte("ready"), nil, nil, 0); err != nil {
		fail(fmt.Errorf("sendmsg: %w", err))
	}
	buf := make([]byte, 64)
	n, _, _, _, err := unix.Recvmsg(3, buf, nil, 0)
	if err != nil {
		fail(fmt.Errorf("recvmsg: %w", err))
	}
	msg := string(buf[:n])
	// The same socket through the net package and its poller.
	c, err := net.FileConn(os.NewFile(3, "kept"))
	if err != nil {
		fail(fmt.Errorf("file conn: %w", err))
	}
	if _, err := c.Write([]byte("pong:" + msg)); err != nil {
		fail(fmt.Errorf("write: %w", err))
	}
	if n, err = c.Read(buf); err != nil {
		fail(fmt.Errorf("read: %w", err))
	}
	r.Reply = string(buf[:n])
	r.Env = len(os.Environ())

	r.Ops = map[string]result{}
	op := func(name string, err error) { r.Ops[name] = outcome(err) }
	f, err := os.Open("/etc/hostname")
	if err == nil {
		f.Close()
	}
	op("open", err)
	f, err = os.Create(filepath.Join(dir, "created"))
	if err == nil {
		f.Close()
	}
	op("create", err)
	op("mkdir", os.Mkdir(filepath.Join(dir, "made"), 0o700))
	op("remove", os.Remove(filepath.Join(dir, "keep")))
	op("rename", os.Rename(filepath.Join(dir, "keep"), filepath.Join(dir, "moved")))
	conn, err := net.Dial("tcp", "127.0.0.1:1")
	if err == nil {
		conn.Close()
	}
	op("dial", err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		l.Close()
	}
	op("listen", err)
	_, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	op("socketpair", err)
	cmd := exec.Command("/bin/true")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr // no open of /dev/null
	op("exec", cmd.Run())
	_, _, e := syscall.Syscall(syscall.SYS_PTRACE, syscall.PTRACE_TRACEME, 0, 0)
	op("ptrace_traceme", errno(e))
	var params [120]byte // struct io_uring_params
	_, _, e = syscall.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
	op("io_uring_setup", errno(e))
	if runtime.GOARCH == "amd64" {
		// getpid through the x32 ABI.
		_, _, e = syscall.Syscall(0x40000000|syscall.SYS_GETPID, 0, 0, 0)
		op("x32_getpid", errno(e))
	}

	// Ordinary work still runs: goroutines, allocation, GC, time.
	var wg sync.WaitGroup
	sums := make([]int, 16)
	for i := range sums {
		wg.Go(func() {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			for _, v := range b {
				sums[i] += int(v)
			}
		})
	}
	wg.Wait()
	runtime.GC()
	for _, s := range sums {
		r.Sum += s
	}
	start := time.Now()
	time.Sleep(5 * time.Millisecond)
	r.Slept = time.Since(start) > 0

	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		fail(err)
	}
}

func bench(arg string) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		fail(err)
	}
	loop := func() int64 {
		start := time.Now()
		for range n {
			syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		}
		return time.Since(start).Nanoseconds()
	}
	var r struct{ Baseline, Filtered int64 }
	r.Baseline = loop()
	if err := harden.Apply(harden.Options{}); err != nil {
		fail(err)
	}
	r.Filtered = loop()
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		fail(err)
	}
}

type secretReport struct {
	Pid      int
	Addr     uint64
	ApplyErr string
	After    harden.State
}

func secret(debug bool) {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadString('\n')
	if err != nil {
		fail(err)
	}
	marker, err := hex.DecodeString(line[:len(line)-1])
	if err != nil {
		fail(err)
	}
	r := secretReport{Pid: os.Getpid(), Addr: uint64(uintptr(unsafe.Pointer(&marker[0])))}
	if err := harden.Apply(harden.Options{Debug: debug}); err != nil {
		r.ApplyErr = err.Error()
	}
	if r.After, err = harden.Status(); err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		fail(err)
	}
	for {
		if _, err := in.ReadByte(); err != nil {
			break
		}
	}
	runtime.KeepAlive(marker)
}
