// Package functions holds the bindings confide edger8r generates from
// ../functions.edl: the enclave implements Trusted and serves Ecalls; the
// host calls Client.EnclaveMessage and answers through Ocalls.
package functions

//go:generate go run github.com/confide-dev/confide/cmd/confide edger8r --quiet --package functions --trusted-dir . --untrusted-dir . ../functions.edl
