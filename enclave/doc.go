// Package enclave is the trusted side of a confide application: the
// runtime an enclave program is built with.
//
// An enclave is a Go program whose main calls Run with its ecall table:
//
//	func main() {
//		err := enclave.Run(enclave.Ecalls{0: hello})
//		...
//	}
//
// The host (package host) starts the signed image as a separate process.
// Before any code of the enclave's own packages runs, this package's
// initialization reads the image the process was started from, checks its
// signature and measurement against the signed trailer, opens the platform
// (simulated SGX by default) and hardens the process: not dumpable or
// traceable (unless the image is signed Debug=1), no core files, no
// capabilities, no inherited descriptors but the boundary, and a seccomp
// filter that denies opening files, creating sockets and exec. All I/O then
// goes through the host, with ocalls, as it would on SGX.
//
// Every byte from the host is untrusted: frames are length-checked and
// bounded (spec/boundary.md).
package enclave
