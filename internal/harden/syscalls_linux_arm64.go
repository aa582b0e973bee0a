package harden

import "golang.org/x/sys/unix"

// auditArch is the seccomp_data.arch value of arm64 system calls
// (AUDIT_ARCH_AARCH64, linux/audit.h).
const auditArch = unix.AUDIT_ARCH_AARCH64

// x32Bit is zero: arm64 has no second ABI sharing its audit architecture.
const x32Bit = 0

// deniedArch returns nothing: arm64 has only the *at forms of path calls.
func deniedArch() []sysCall {
	return nil
}
