// Package host is the untrusted side of a confide application: it loads a
// signed enclave image, starts it as a separate hardened process, and calls
// into it.
//
//	e, err := host.Load(ctx, "enclave.signed", host.Options{Ocalls: ocalls})
//	...
//	defer e.Close()
//	out, err := e.Call(ctx, fnHello, in)
//
// Load verifies the image's signature and measurement before anything is
// started (unsigned images only with Options.Debug, as Open Enclave does),
// starts the enclave from a sealed in-memory copy of the verified bytes,
// and checks that the enclave measured itself to the same identity.
//
// At most NumTCS ecalls run at once: further callers wait for a thread,
// or get an error when their context ends. Ocalls made by the enclave while
// an ecall is in progress are served on the goroutine that made the ecall;
// an ecall from inside an ocall handler is refused with ErrReentrant.
// Errors cross the boundary as codes and come back as the sentinels below;
// when the enclave process dies, calls fail with a *LostError matching
// ErrEnclaveLost that carries its exit status.
package host
