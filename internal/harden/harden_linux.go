//go:build amd64 || arm64

package harden

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capSetpcap is CAP_SETPCAP (linux/capability.h), needed to shrink the
// bounding set.
const capSetpcap = 8

// maxCap bounds the capability numbers probed; the kernel answers EINVAL
// past CAP_LAST_CAP, which ends the loops first.
const maxCap = 64

// Apply hardens the calling process as the package documentation
// describes. It must run before user code, and it cannot be undone. It
// returns ErrOptions for a negative descriptor in opts.KeepFDs,
// ErrUnsupported when the kernel lacks seccomp filters, ErrThreads in a
// binary that links cgo (in these three cases before changing anything),
// and a *StepError when a step fails, after which the process may be partly
// hardened and must not run user code.
//
// Descriptors count as inherited when they lack FD_CLOEXEC: the Go runtime
// and standard library open everything close-on-exec, and a descriptor
// passed across exec cannot have the flag. Descriptors the process opened
// itself (the runtime's epoll instance, files it has open) stay open. A
// descriptor wrapped in an *os.File must be kept or the file not used again.
func Apply(opts Options) error {
	for _, fd := range opts.KeepFDs {
		if fd < 0 {
			return fmt.Errorf("%w: KeepFDs has descriptor %d", ErrOptions, fd)
		}
	}
	prog, err := filter()
	if err != nil {
		return err
	}

	// Per-thread reads and the filter installation run on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if err := precheck(); err != nil {
		return err
	}

	// Descriptors before the filter: listing /proc/self/fd needs open.
	if err := closeInherited(opts.KeepFDs); err != nil {
		return err
	}
	os.Clearenv()

	if !opts.Debug {
		if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
			return &StepError{"setrlimit core", err}
		}
		// Process-wide: not dumpable, so /proc/<pid>/mem and ptrace need
		// CAP_SYS_PTRACE in the caller's user name space.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			return &StepError{"prctl set dumpable", err}
		}
	}

	if err := dropCaps(); err != nil {
		return err
	}
	if err := allThreads("prctl set no_new_privs", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return err
	}

	fprog := &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return &StepError{"seccomp", errno}
	}
	if r1 != 0 {
		// With TSYNC a positive result is the thread that could not be
		// synchronised; the filter is then not installed anywhere.
		return &StepError{"seccomp", fmt.Errorf("thread %d could not be synchronised", r1)}
	}

	st, err := Status()
	if err != nil {
		return err
	}
	ok := st.Sandboxed()
	if !opts.Debug {
		ok = st.Hardened()
	}
	if !ok {
		return &StepError{"verify", fmt.Errorf("state after hardening: %v", st)}
	}
	return nil
}

// Check reports, without changing anything, whether Apply can succeed in
// this process: ErrUnsupported on a kernel without seccomp filters,
// ErrThreads in a binary that links cgo. Tests and tools use it to explain
// up front why an enclave built from this binary would refuse to start.
func Check() error { return precheck() }

// precheck refuses, before any change, a kernel without seccomp filters or
// a binary whose threads cannot all be reached.
func precheck() error {
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: kernel without seccomp", ErrUnsupported)
	}
	if err != nil {
		return &StepError{"prctl get seccomp", err}
	}
	if SeccompMode(mode) == SeccompStrict {
		return &StepError{"prctl get seccomp", errors.New("thread is in strict mode")}
	}
	// SECCOMP_RET_KILL_PROCESS appeared in Linux 4.14.
	action := uint32(retKill)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); e != 0 {
		return fmt.Errorf("%w: seccomp action kill_process: %v", ErrUnsupported, e)
	}
	// getpid returns the same on every thread, so it probes the
	// all-threads mechanism without changing anything.
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return ErrThreads
		}
		return &StepError{"all-threads probe", e}
	}
	return nil
}

// allThreads runs a system call on every thread of the Go runtime.
func allThreads(step string, trap, a1, a2, a3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
		return &StepError{step, e}
	}
	return nil
}

// closeInherited closes every descriptor above 2 without FD_CLOEXEC that
// keep does not list.
func closeInherited(keep []int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return &StepError{"list descriptors", err}
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			return &StepError{"list descriptors", fmt.Errorf("entry %q", e.Name())}
		}
		if fd <= 2 || slices.Contains(keep, fd) {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if errors.Is(err, unix.EBADF) {
			continue // the directory's own descriptor, closed by ReadDir
		}
		if err != nil {
			return &StepError{"fcntl getfd " + strconv.Itoa(fd), err}
		}
		if flags&unix.FD_CLOEXEC != 0 {
			continue // opened by this process, not inherited
		}
		if err := unix.Close(fd); err != nil {
			return &StepError{"close " + strconv.Itoa(fd), err}
		}
	}
	return nil
}

// dropCaps empties the ambient, bounding, inheritable, permitted and
// effective sets of every thread.
func dropCaps() error {
	err := allThreads("prctl cap_ambient clear_all", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: kernel before 4.3, no ambient set
		return err
	}

	var hdr unix.CapUserHeader
	var data [2]unix.CapUserData
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &StepError{"capget", err}
	}
	// Shrinking the bounding set needs CAP_SETPCAP. Without it the set
	// stays, but it no longer matters: permitted is emptied below,
	// no_new_privs stops exec from adding to it, and exec is denied.
	if data[0].Effective&(1<<capSetpcap) != 0 {
		for c := range maxCap {
			in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
			if errors.Is(err, unix.EINVAL) {
				break // past CAP_LAST_CAP
			}
			if err != nil {
				return &StepError{"prctl capbset_read", err}
			}
			if in == 1 {
				if err := allThreads("prctl capbset_drop "+strconv.Itoa(c), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
					return err
				}
			}
		}
	}

	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: each calling thread
	data = [2]unix.CapUserData{}
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return &StepError{"capset", e}
	}
	return nil
}

// Status reports what is in force for the calling thread (capabilities,
// no_new_privs, seccomp) and its process (dumpable, core limit). After
// Apply every thread has the same settings. It uses only system calls that
// the filter allows, so it works after Apply.
func Status() (State, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var st State
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return State{}, &StepError{"prctl get dumpable", err}
	}
	st.Dumpable = d != 0
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return State{}, &StepError{"prctl get no_new_privs", err}
	}
	st.NoNewPrivs = nnp != 0
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	switch {
	case errors.Is(err, unix.EINVAL):
		st.Seccomp = SeccompDisabled // kernel without seccomp
	case err != nil:
		return State{}, &StepError{"prctl get seccomp", err}
	default:
		st.Seccomp = SeccompMode(mode)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		return State{}, &StepError{"getrlimit core", err}
	}
	st.CoreSoft, st.CoreHard = rl.Cur, rl.Max

	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return State{}, &StepError{"capget", err}
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	st.CapEffective = join(data[0].Effective, data[1].Effective)
	st.CapPermitted = join(data[0].Permitted, data[1].Permitted)
	st.CapInheritable = join(data[0].Inheritable, data[1].Inheritable)

	for c := range maxCap {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			return State{}, &StepError{"prctl capbset_read", err}
		}
		if in == 1 {
			st.CapBounding |= 1 << c
		}
	}
	for c := range maxCap {
		in, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // past CAP_LAST_CAP, or no ambient set
		}
		if err != nil {
			return State{}, &StepError{"prctl cap_ambient is_set", err}
		}
		if in == 1 {
			st.CapAmbient |= 1 << c
		}
	}
	return st, nil
}
