// Package roomcall holds the bindings confide edger8r generates from
// ../room.edl: the clean-room enclave implements Trusted and serves Ecalls;
// the host calls Client.RoomRun and answers through Ocalls.
package roomcall

//go:generate go run github.com/confide-dev/confide/cmd/confide edger8r --quiet --package roomcall --trusted-dir . --untrusted-dir . ../room.edl
