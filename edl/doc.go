// Package edl parses Enclave Definition Language files (the dialect of the
// Open Enclave and Intel SGX SDK edger8r tools), checks them, and generates
// bounds-checked Go bindings for both sides of the enclave boundary.
//
// Parse reads one file; Load reads a file with its imports resolved on a
// search path and preprocessor symbols applied; Generate turns the loaded
// interface into gofmt'd Go source for the trusted side (the enclave) and the
// untrusted side (the host). Generated code marshals arguments with package
// edl/wire. The type mapping, buffer layout and checks are specified in
// spec/edl.md.
package edl
