// Package builtin holds the enclaves built into the confide binary.
//
// The confide command doubles as its own enclaves: SignSelf signs the
// running executable with a config whose ProductID names a built-in
// enclave, a host loads the signed copy, and when that copy starts as an
// enclave (enclave.Running), cmd/confide serves the ecall table Ecalls
// returns for the ProductID instead of running the command line. No Go
// toolchain is needed to run a built-in enclave.
//
// ProductBench is the boundary benchmark enclave used by
// "confide bench boundary" (package internal/benchboundary): echo, sink
// and "make N ocalls" ecalls, with regular and switchless variants.
package builtin
