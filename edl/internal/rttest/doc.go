// Package rttest holds bindings generated from rt.edl, a representative
// interface, and the round-trip, hostile-peer, fuzz and benchmark tests that
// exercise generated marshaling in process.
package rttest

//go:generate go run github.com/confide-dev/confide/cmd/confide edger8r --quiet --package rttest rt.edl
