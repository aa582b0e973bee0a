package harden

import (
	"errors"
	"fmt"
	"strings"
)

// Options say what Apply does. The zero value is full hardening.
type Options struct {
	// Debug skips the dump and ptrace hardening (the process stays dumpable
	// and the core limit is left alone) so that the enclave can be debugged,
	// for example with dlv. Capabilities, no_new_privs, descriptors, the
	// environment and the seccomp filter are still applied. Zero: false.
	Debug bool

	// KeepFDs lists inherited descriptors to keep open, such as the boundary
	// socket or a shared-memory descriptor. Every other descriptor above 2
	// that the process inherited across exec is closed. Zero: none kept.
	KeepFDs []int
}

// SeccompMode is the seccomp mode of a thread, as prctl(PR_GET_SECCOMP)
// reports it.
type SeccompMode int

// The seccomp modes of Linux.
const (
	// SeccompDisabled means no seccomp is in force.
	SeccompDisabled SeccompMode = 0
	// SeccompStrict means only read, write, exit and sigreturn are allowed.
	SeccompStrict SeccompMode = 1
	// SeccompFilter means one or more BPF filters are in force.
	SeccompFilter SeccompMode = 2
)

// String returns the name of the mode: "disabled", "strict" or "filter".
func (m SeccompMode) String() string {
	switch m {
	case SeccompDisabled:
		return "disabled"
	case SeccompStrict:
		return "strict"
	case SeccompFilter:
		return "filter"
	}
	return fmt.Sprintf("SeccompMode(%d)", int(m))
}

// State is what is in force for the calling thread and its process.
// Capability sets are bit masks indexed by capability number.
type State struct {
	// Dumpable is the process's dumpable flag (prctl PR_GET_DUMPABLE != 0).
	Dumpable bool
	// NoNewPrivs is the thread's no_new_privs flag.
	NoNewPrivs bool
	// Seccomp is the thread's seccomp mode.
	Seccomp SeccompMode
	// CoreSoft and CoreHard are the process's RLIMIT_CORE limits in bytes.
	CoreSoft, CoreHard uint64
	// CapEffective, CapPermitted and CapInheritable are the thread's
	// capability sets.
	CapEffective, CapPermitted, CapInheritable uint64
	// CapBounding and CapAmbient are the thread's bounding and ambient sets.
	CapBounding, CapAmbient uint64
}

// Hardened reports whether s shows full hardening as Apply leaves it with
// the zero Options: not dumpable, no core files, no capabilities in any
// set, no_new_privs and a seccomp filter.
func (s State) Hardened() bool {
	return !s.Dumpable && s.CoreSoft == 0 && s.CoreHard == 0 && s.Sandboxed()
}

// Sandboxed reports whether s shows what Apply leaves in force even with
// Options.Debug: no capabilities in any set, no_new_privs and a seccomp
// filter.
func (s State) Sandboxed() bool {
	return s.NoNewPrivs && s.Seccomp == SeccompFilter &&
		s.CapEffective|s.CapPermitted|s.CapInheritable|s.CapBounding|s.CapAmbient == 0
}

// String summarises s on one line, for logs.
func (s State) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dumpable=%t no_new_privs=%t seccomp=%s core=%d/%d", s.Dumpable, s.NoNewPrivs, s.Seccomp, s.CoreSoft, s.CoreHard)
	fmt.Fprintf(&b, " cap_eff=%#x cap_prm=%#x cap_inh=%#x cap_bnd=%#x cap_amb=%#x",
		s.CapEffective, s.CapPermitted, s.CapInheritable, s.CapBounding, s.CapAmbient)
	return b.String()
}

var (
	// ErrUnsupported means the operating system or architecture has no
	// implementation (only Linux on amd64 and arm64 has one), or the kernel
	// lacks seccomp filters.
	ErrUnsupported = errors.New("harden: unsupported platform")

	// ErrThreads means the per-thread settings (capabilities, no_new_privs)
	// cannot be applied to every thread, because the binary links cgo.
	// Apply reports it before changing anything.
	ErrThreads = errors.New("harden: cannot apply to all threads (binary links cgo; build with CGO_ENABLED=0)")

	// ErrOptions means the Options are invalid (a negative descriptor).
	ErrOptions = errors.New("harden: invalid options")
)

// StepError is returned when one step of Apply or Status fails. The process
// may then be partly hardened; the caller must not run user code.
type StepError struct {
	// Step names the step, such as "seccomp" or "capset".
	Step string
	// Err is the underlying error, usually a syscall.Errno.
	Err error
}

// Error returns "harden: <step>: <err>".
func (e *StepError) Error() string { return "harden: " + e.Step + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *StepError) Unwrap() error { return e.Err }
