//go:build amd64 || arm64

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data (linux/seccomp.h), the input of a
// seccomp filter: int nr; __u32 arch; __u64 instruction_pointer;
// __u64 args[6].
const (
	offNr   = 0 // seccomp_data.nr, the system call number
	offArch = 4 // seccomp_data.arch, an AUDIT_ARCH_* value
)

// Filter actions (linux/seccomp.h).
const (
	retKill  = unix.SECCOMP_RET_KILL_PROCESS               // kill every thread
	retAllow = unix.SECCOMP_RET_ALLOW                      // run the call
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM) // fail with EPERM
)

// maxJump is the largest forward jump a conditional BPF instruction can
// encode (jt and jf are 8-bit).
const maxJump = 255

// stmt is a BPF instruction without jumps.
func stmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

// jump is a conditional BPF jump: if the test holds skip jt instructions,
// else skip jf.
func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// filter returns the seccomp program: check the architecture, refuse x32
// numbers (amd64), refuse each call of deniedSyscalls with EPERM, allow the
// rest. Its layout, with n denied calls and D the index of the last
// instruction:
//
//	0      A = arch
//	1      if A == auditArch goto 3
//	2      return KILL_PROCESS
//	3      A = nr
//	4      if A >= x32Bit goto D          (amd64 only)
//	…      if A == denied[i] goto D       (one per denied call)
//	D-1    return ALLOW
//	D      return ERRNO(EPERM)
func filter() ([]unix.SockFilter, error) {
	denied := deniedSyscalls()
	n := 4 + len(denied) + 2
	if x32Bit != 0 {
		n++
	}
	deny := n - 1
	prog := make([]unix.SockFilter, 0, n)
	// toDeny is the jt that reaches the deny instruction from the
	// instruction about to be appended.
	toDeny := func() (uint8, error) {
		d := deny - (len(prog) + 1)
		if d < 0 || d > maxJump {
			return 0, fmt.Errorf("harden: filter jump of %d out of range", d)
		}
		return uint8(d), nil
	}

	// Load the architecture the call was made with.
	prog = append(prog, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch))
	// Native architecture: skip the kill.
	prog = append(prog, jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, auditArch, 1, 0))
	// Any other architecture (such as i386 on amd64) has other numbers;
	// kill the process rather than judge them by ours.
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, retKill))
	// Load the system call number.
	prog = append(prog, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr))
	if x32Bit != 0 {
		// x32 numbers (and anything above them) are refused outright.
		jt, err := toDeny()
		if err != nil {
			return nil, err
		}
		prog = append(prog, jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, x32Bit, jt, 0))
	}
	for _, c := range denied {
		// This denied call: go to the deny instruction; else try the next.
		jt, err := toDeny()
		if err != nil {
			return nil, err
		}
		prog = append(prog, jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, c.nr, jt, 0))
	}
	// No rule matched: allow the call.
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, retAllow))
	// Denied: fail the call with EPERM.
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, retEPERM))
	if len(prog) != n {
		return nil, fmt.Errorf("harden: filter has %d instructions; want %d", len(prog), n)
	}
	return prog, nil
}
