package harden

import "golang.org/x/sys/unix"

// auditArch is the seccomp_data.arch value of native amd64 system calls
// (AUDIT_ARCH_X86_64, linux/audit.h).
const auditArch = unix.AUDIT_ARCH_X86_64

// x32Bit is __X32_SYSCALL_BIT (arch/x86/include/uapi/asm/unistd.h): x32
// system calls arrive with the amd64 audit architecture and this bit set in
// the number. The filter denies them all, so no call can be reached twice.
// Zero on architectures without such an ABI.
const x32Bit = 0x40000000

// deniedArch returns the legacy path-based calls amd64 keeps and arm64 lacks.
func deniedArch() []sysCall {
	return []sysCall{
		{"open", unix.SYS_OPEN},
		{"creat", unix.SYS_CREAT},
		{"link", unix.SYS_LINK},
		{"symlink", unix.SYS_SYMLINK},
		{"unlink", unix.SYS_UNLINK},
		{"rename", unix.SYS_RENAME},
		{"mkdir", unix.SYS_MKDIR},
		{"rmdir", unix.SYS_RMDIR},
		{"mknod", unix.SYS_MKNOD},
		{"chmod", unix.SYS_CHMOD},
		{"chown", unix.SYS_CHOWN},
		{"lchown", unix.SYS_LCHOWN},
		{"utime", unix.SYS_UTIME},
		{"utimes", unix.SYS_UTIMES},
		{"futimesat", unix.SYS_FUTIMESAT},
	}
}
