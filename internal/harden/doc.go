// Package harden locks down the enclave process of the sim platform so
// that it behaves, as far as an ordinary Linux process can, like an enclave:
// its memory cannot be read by its host, and it can do no I/O of its own, so
// every byte in or out crosses the host boundary as it would on SGX.
//
// The enclave runtime calls [Apply] once, early, after it has read its own
// image and opened its platform state and before any user code runs. Apply
// is irreversible. It:
//
//   - marks the process not dumpable (prctl PR_SET_DUMPABLE 0), so a process
//     of the same uid without CAP_SYS_PTRACE can neither open
//     /proc/<pid>/mem nor ptrace-attach, and sets RLIMIT_CORE to 0 so no
//     core file is written (both skipped with [Options.Debug]);
//   - closes every descriptor above 2 that the process inherited across
//     exec, except [Options.KeepFDs], and clears the environment;
//   - drops every capability (effective, permitted, inheritable, ambient
//     and the bounding set) on every thread of the Go runtime, and sets
//     no_new_privs;
//   - installs a seccomp BPF filter on every thread (SECCOMP_FILTER_FLAG_TSYNC)
//     that kills the process on a foreign architecture, refuses x32 system
//     calls on amd64, and makes the calls that would give the enclave its own
//     way to the outside fail with EPERM (see below). [Status] reports what
//     is in force.
//
// # The filter
//
// Denied with EPERM: creating or opening files (open, openat, openat2,
// creat, open_by_handle_at, name_to_handle_at); changing the file-system
// name space by path (link, symlink, unlink, rename, mkdir, rmdir, mknod,
// truncate, chmod, chown, utimes, set/remove xattr, in every *at variant);
// new sockets (socket, socketpair); executing programs (execve, execveat);
// looking into or controlling other processes (ptrace, process_vm_readv,
// process_vm_writev, process_madvise, pidfd_open, pidfd_getfd, kcmp);
// mounting and name spaces (mount, umount2, pivot_root, chroot, the new
// mount API, unshare, setns); and the kernel interfaces that bypass or widen
// the filter (io_uring_setup/enter/register, whose operations seccomp does
// not see; bpf; perf_event_open; userfaultfd; keyctl, add_key, request_key;
// module and kexec loading; reboot; swapon/swapoff; acct).
//
// Everything else is allowed: the Go runtime needs mmap, futex, clone,
// sigaltstack, epoll and the like, and the boundary needs read, write,
// recvmsg and sendmsg on the descriptors it was given. Reading file metadata
// by path (stat, statx, access, readlink) stays allowed because the Go
// standard library implements fstat with fstatat on arm64; it reveals
// whether a path exists, never its contents. Flags of clone are not
// inspected; without capabilities, and with mount, unshare and setns
// denied, a new name space is of no use.
//
// # Threat model
//
// This is a process boundary, not SGX. It protects the enclave's memory
// from its host and from other processes of the same user that lack
// CAP_SYS_PTRACE, and it keeps the enclave from doing I/O outside the
// boundary. It does not protect against the kernel, against root with
// CAP_SYS_PTRACE on the host (which can still attach with ptrace or read
// /proc/<pid>/mem), against anyone who can read physical memory or swap, or
// against side channels. Evidence from the sim platform says simulated for
// this reason.
//
// # Requirements
//
// Capabilities and no_new_privs belong to each thread, so Apply changes them
// on all threads with [syscall.AllThreadsSyscall]. That is impossible in a
// binary that links cgo (C threads are unknown to the Go runtime), and Apply
// then fails with [ErrThreads] before changing anything: build the enclave
// with CGO_ENABLED=0. Apply needs Linux on amd64 or arm64 with seccomp
// filters; elsewhere it returns [ErrUnsupported].
package harden
