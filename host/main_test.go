package host_test

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary doubles as helper processes, chosen by environment:
// an echo peer for the raw socket-pair benchmark, and a reader without
// capabilities for the memory-protection test.
func TestMain(m *testing.M) {
	switch os.Getenv("CONFIDE_HOST_TEST_HELPER") {
	case "echo":
		echoPeer(3)
		os.Exit(0)
	case "peek":
		os.Exit(peek())
	}
	os.Exit(m.Run())
}

// echoPeer answers every 64-byte message on fd with the same bytes, with
// blocking read(2)/write(2), until EOF: the floor for a process boundary.
func echoPeer(fd int) {
	buf := make([]byte, 64)
	for {
		for n := 0; n < len(buf); {
			m, err := unix.Read(fd, buf[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil || m == 0 {
				return
			}
			n += m
		}
		for n := 0; n < len(buf); {
			m, err := unix.Write(fd, buf[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			n += m
		}
	}
}
