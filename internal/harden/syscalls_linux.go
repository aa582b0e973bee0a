//go:build amd64 || arm64

package harden

import "golang.org/x/sys/unix"

// sysCall names a system call for the filter and its tests.
type sysCall struct {
	name string
	nr   uint32
}

// deniedSyscalls returns every system call the filter denies with EPERM on
// this architecture (see the package documentation for the reasons): the
// common ones, then those only this architecture has (deniedArch).
func deniedSyscalls() []sysCall {
	return append([]sysCall{
		// Opening or creating files.
		{"openat", unix.SYS_OPENAT},
		{"openat2", unix.SYS_OPENAT2},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT},
		{"name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT},
		// Changing the file-system name space or metadata by path.
		{"linkat", unix.SYS_LINKAT},
		{"symlinkat", unix.SYS_SYMLINKAT},
		{"unlinkat", unix.SYS_UNLINKAT},
		{"renameat", unix.SYS_RENAMEAT},
		{"renameat2", unix.SYS_RENAMEAT2},
		{"mkdirat", unix.SYS_MKDIRAT},
		{"mknodat", unix.SYS_MKNODAT},
		{"truncate", unix.SYS_TRUNCATE},
		{"fchmodat", unix.SYS_FCHMODAT},
		{"fchmodat2", unix.SYS_FCHMODAT2},
		{"fchownat", unix.SYS_FCHOWNAT},
		{"utimensat", unix.SYS_UTIMENSAT},
		{"setxattr", unix.SYS_SETXATTR},
		{"lsetxattr", unix.SYS_LSETXATTR},
		{"removexattr", unix.SYS_REMOVEXATTR},
		{"lremovexattr", unix.SYS_LREMOVEXATTR},
		{"setxattrat", unix.SYS_SETXATTRAT},
		{"removexattrat", unix.SYS_REMOVEXATTRAT},
		// New sockets.
		{"socket", unix.SYS_SOCKET},
		{"socketpair", unix.SYS_SOCKETPAIR},
		// Executing programs.
		{"execve", unix.SYS_EXECVE},
		{"execveat", unix.SYS_EXECVEAT},
		// Looking into or controlling other processes.
		{"ptrace", unix.SYS_PTRACE},
		{"process_vm_readv", unix.SYS_PROCESS_VM_READV},
		{"process_vm_writev", unix.SYS_PROCESS_VM_WRITEV},
		{"process_madvise", unix.SYS_PROCESS_MADVISE},
		{"pidfd_open", unix.SYS_PIDFD_OPEN},
		{"pidfd_getfd", unix.SYS_PIDFD_GETFD},
		{"kcmp", unix.SYS_KCMP},
		// Mounts and name spaces.
		{"mount", unix.SYS_MOUNT},
		{"umount2", unix.SYS_UMOUNT2},
		{"pivot_root", unix.SYS_PIVOT_ROOT},
		{"chroot", unix.SYS_CHROOT},
		{"open_tree", unix.SYS_OPEN_TREE},
		{"open_tree_attr", unix.SYS_OPEN_TREE_ATTR},
		{"move_mount", unix.SYS_MOVE_MOUNT},
		{"fsopen", unix.SYS_FSOPEN},
		{"fsconfig", unix.SYS_FSCONFIG},
		{"fsmount", unix.SYS_FSMOUNT},
		{"fspick", unix.SYS_FSPICK},
		{"mount_setattr", unix.SYS_MOUNT_SETATTR},
		{"unshare", unix.SYS_UNSHARE},
		{"setns", unix.SYS_SETNS},
		// Kernel interfaces that bypass or widen the filter.
		{"io_uring_setup", unix.SYS_IO_URING_SETUP},
		{"io_uring_enter", unix.SYS_IO_URING_ENTER},
		{"io_uring_register", unix.SYS_IO_URING_REGISTER},
		{"bpf", unix.SYS_BPF},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN},
		{"userfaultfd", unix.SYS_USERFAULTFD},
		{"keyctl", unix.SYS_KEYCTL},
		{"add_key", unix.SYS_ADD_KEY},
		{"request_key", unix.SYS_REQUEST_KEY},
		{"init_module", unix.SYS_INIT_MODULE},
		{"finit_module", unix.SYS_FINIT_MODULE},
		{"delete_module", unix.SYS_DELETE_MODULE},
		{"kexec_load", unix.SYS_KEXEC_LOAD},
		{"kexec_file_load", unix.SYS_KEXEC_FILE_LOAD},
		{"reboot", unix.SYS_REBOOT},
		{"swapon", unix.SYS_SWAPON},
		{"swapoff", unix.SYS_SWAPOFF},
		{"acct", unix.SYS_ACCT},
	}, deniedArch()...)
}
