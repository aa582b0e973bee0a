package benchboundary

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The socket-pair peer speaks the simplest protocol that moves the same
// bytes as a call: the caller writes an 8-byte header (payload length as a
// little-endian uint32, then a uint32 of flags) and the payload; the peer
// answers with an 8-byte header and either the payload (flag echo) or its
// length as a little-endian uint64. Both sides use blocking read(2) and
// write(2) on the raw descriptor.
const (
	peerHeader     = 8
	peerFlagEcho   = 1
	maxPeerPayload = 64 << 20
)

// ErrPeerProtocol reports a socket-pair message that does not decode.
var ErrPeerProtocol = errors.New("benchboundary: bad socket-pair message")

// parsePeerHeader decodes a socket-pair header.
func parsePeerHeader(b []byte) (n int, echo bool, err error) {
	if len(b) != peerHeader {
		return 0, false, fmt.Errorf("%w: header of %d bytes, want %d", ErrPeerProtocol, len(b), peerHeader)
	}
	l := binary.LittleEndian.Uint32(b)
	flags := binary.LittleEndian.Uint32(b[4:])
	if l > maxPeerPayload {
		return 0, false, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrPeerProtocol, l, maxPeerPayload)
	}
	if flags&^peerFlagEcho != 0 {
		return 0, false, fmt.Errorf("%w: unknown flags %#x", ErrPeerProtocol, flags)
	}
	return int(l), flags&peerFlagEcho != 0, nil
}

// putPeerHeader encodes a socket-pair header.
func putPeerHeader(b []byte, n int, echo bool) {
	binary.LittleEndian.PutUint32(b, uint32(n))
	var flags uint32
	if echo {
		flags = peerFlagEcho
	}
	binary.LittleEndian.PutUint32(b[4:], flags)
}

// readFull reads len(b) bytes from fd with blocking read(2).
func readFull(fd int, b []byte) error {
	for n := 0; n < len(b); {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return io.EOF
		}
		n += m
	}
	return nil
}

// writeFull writes b to fd with blocking write(2).
func writeFull(fd int, b []byte) error {
	for n := 0; n < len(b); {
		m, err := unix.Write(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		n += m
	}
	return nil
}

// ServePeer serves the socket-pair peer on each of files (the process's
// inherited sockets, one per caller), one goroutine per socket, until the
// caller closes them. It returns nil when every socket ended with
// end-of-file, or the first protocol or I/O error.
func ServePeer(files []*os.File) error {
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("benchboundary: peer socket: %w", err)
		}
		if err := unix.SetNonblock(fd, false); err != nil {
			return fmt.Errorf("benchboundary: peer socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(fd)
			errs[i] = servePeerConn(fd)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// servePeerConn answers requests on fd until end-of-file.
func servePeerConn(fd int) error {
	hdr := make([]byte, peerHeader)
	var buf []byte
	reply := make([]byte, peerHeader+8)
	for {
		if err := readFull(fd, hdr); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("benchboundary: peer: %w", err)
		}
		n, echo, err := parsePeerHeader(hdr)
		if err != nil {
			return err
		}
		if cap(buf) < peerHeader+n {
			buf = make([]byte, peerHeader+n)
		}
		msg := buf[:peerHeader+n]
		if err := readFull(fd, msg[peerHeader:]); err != nil {
			return fmt.Errorf("benchboundary: peer: %w", err)
		}
		out := reply
		if echo {
			putPeerHeader(msg, n, false)
			out = msg
		} else {
			putPeerHeader(reply, 8, false)
			binary.LittleEndian.PutUint64(reply[peerHeader:], uint64(n))
		}
		if err := writeFull(fd, out); err != nil {
			return fmt.Errorf("benchboundary: peer: %w", err)
		}
	}
}
