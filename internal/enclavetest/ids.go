package enclavetest

// Ecall IDs of the test enclave (kept in step with testenclave/main.go).
const (
	FnEcho uint32 = iota
	FnNested
	FnBlock
	FnPanic
	FnTryOpen
	FnTryDial
	FnTryExec
	FnSecret
	FnExit
	FnIdentity
	FnPrint
	FnOcallBackground
	FnSpin
	FnOcallSwitchless
	FnSink // returns the length of its input: an [in]-only transfer
	// FnHTTPSGet fetches a URL with TLS inside the enclave over a
	// host-relayed connection (in: u32 PEM length, PEM root, URL).
	FnHTTPSGet
)
