package enclave

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	rtdebug "runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/boundary"
	"github.com/confide-dev/confide/internal/harden"
)

// LaunchName is argv[0] of a process started as an enclave by a host.
const LaunchName = "confide-enclave"

// Descriptors the host passes to the enclave.
const (
	fdCalls      = 3 // ecalls and the ocalls nested in them
	fdBackground = 4 // ocalls made outside any ecall
	fdSwitchless = 5 // the switchless region, when the host enables it
	// Lanes follow: from 5, or from 6 with a switchless region.
)

// exitStartup is the exit status of an enclave that refused to start.
const exitStartup = 70

func init() {
	if len(os.Args) == 0 || os.Args[0] != LaunchName {
		return
	}
	r, err := start()
	if err != nil {
		// The host was told why in the hello; nothing else may run.
		os.Exit(exitStartup)
	}
	rt = r
}

// start runs before any user code: handshake, self-measurement, platform,
// hardening, in that order.
func start() (*runtime, error) {
	var hh boundary.HostHello
	if err := boundary.ReadHello(fdCalls, &hh, 0); err != nil {
		return nil, err
	}
	refuse := func(code string, err error) (*runtime, error) {
		_ = boundary.WriteHello(fdCalls, boundary.EnclaveHello{Version: boundary.Version, Code: code, Error: err.Error()})
		return nil, err
	}
	if hh.Version != boundary.Version {
		return refuse("version", fmt.Errorf("enclave: host speaks protocol version %d, enclave speaks %d", hh.Version, boundary.Version))
	}

	// Measure the image this process was started from. The host starts
	// the enclave from a sealed memory file holding the exact bytes it
	// verified, so this reads those bytes.
	data, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		return refuse("measurement", fmt.Errorf("enclave: read own image: %w", err))
	}
	var img *image.Image
	if hh.Unsigned {
		var cfg image.Config
		if err := json.Unmarshal(hh.Config, &cfg); err != nil {
			return refuse("measurement", fmt.Errorf("enclave: config of unsigned image: %w", err))
		}
		img, err = image.OpenUnsigned(data, cfg)
	} else {
		img, err = image.Open(data)
	}
	if err != nil {
		return refuse("measurement", fmt.Errorf("enclave: image does not match its signed trailer: %w", err))
	}
	clear(data)

	platform, err := openPlatform(&hh, img)
	if err != nil {
		return refuse("platform", fmt.Errorf("enclave: open platform: %w", err))
	}

	var sw *boundary.Switchless
	if hh.Switchless != nil {
		if sw, err = mapSwitchless(hh.Switchless); err != nil {
			return refuse("switchless", err)
		}
	}

	lanes, err := laneFDs(&hh, img)
	if err != nil {
		return refuse("lanes", err)
	}

	// Resource limits from the signed config.
	if n := img.Config.NumHeapPages; n > 0 {
		rtdebug.SetMemoryLimit(int64(n) * 4096)
	}
	if n := img.Config.NumStackPages; n > 0 {
		rtdebug.SetMaxStack(max(int(n)*4096, 1<<20))
	}

	if err := harden.Apply(harden.Options{Debug: img.Config.Debug, KeepFDs: append([]int{fdCalls, fdBackground}, lanes...)}); err != nil {
		return refuse("harden", fmt.Errorf("enclave: harden process: %w", err))
	}

	r := &runtime{img: img, platform: platform, ready: make(chan struct{}), sw: sw}
	// One pool of NumTCS threads for every call socket: a host that floods
	// all of them at once still gets NumTCS ecalls served and the rest
	// refused.
	tcs := int(max(img.Config.NumTCS, 1))
	pool := boundary.NewThreadPool(tcs)
	r.a = boundary.NewConn(fdCalls, boundary.Options{
		Handler:      r.dispatch,
		Threads:      tcs,
		Pool:         pool,
		RejectNested: true,
	})
	for _, fd := range lanes {
		r.lanes = append(r.lanes, boundary.NewConn(fd, boundary.Options{
			Handler:      r.dispatch,
			Threads:      1,
			Pool:         pool,
			RejectNested: true,
		}))
	}
	r.b = boundary.NewConn(fdBackground, boundary.Options{})
	reply := boundary.EnclaveHello{
		Version:  boundary.Version,
		UniqueID: hex.EncodeToString(img.Identity.UniqueID[:]),
		SignerID: hex.EncodeToString(img.Identity.SignerID[:]),
	}
	if platform != nil {
		info := platform.Info()
		reply.Platform, reply.Simulated = info.Name, info.Simulated
	}
	if err := boundary.WriteHello(fdCalls, reply); err != nil {
		return nil, err
	}
	if sw != nil {
		for range min(max(hh.Switchless.Workers, 1), maxSwitchlessWorkers) {
			go sw.Serve(context.Background(), boundary.EcallRing, r.dispatch)
		}
	}
	return r, nil
}

// laneFDs checks the lanes the host announced: no more than the signed
// NumTCS allows (the call socket counts as one), within MaxLanes, and each
// descriptor a stream socket.
func laneFDs(hh *boundary.HostHello, img *image.Image) ([]int, error) {
	n := hh.Lanes
	if n == 0 {
		return nil, nil
	}
	if n < 0 || n > boundary.MaxLanes || n >= int(max(img.Config.NumTCS, 1)) {
		return nil, fmt.Errorf("enclave: host announced %d lanes; NumTCS=%d allows at most %d", n, img.Config.NumTCS, min(int(max(img.Config.NumTCS, 1))-1, boundary.MaxLanes))
	}
	first := fdSwitchless
	if hh.Switchless != nil {
		first++
	}
	fds := make([]int, n)
	for i := range fds {
		fd := first + i
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("enclave: lane %d (descriptor %d): %w", i, fd, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return nil, fmt.Errorf("enclave: lane %d (descriptor %d) is not a socket", i, fd)
		}
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_STREAM {
			return nil, fmt.Errorf("enclave: lane %d (descriptor %d) is not a stream socket", i, fd)
		}
		fds[i] = fd
	}
	return fds, nil
}

// maxSwitchlessWorkers bounds the worker threads a host may ask for.
const maxSwitchlessWorkers = 16

// mapSwitchless maps the region the host passed as descriptor 5, after
// checking that the host cannot shrink it any more (a shrunk mapping
// would kill the enclave with SIGBUS) and that it is as large as
// announced. The descriptor is closed; the mapping stays.
func mapSwitchless(h *boundary.SwitchlessHello) (*boundary.Switchless, error) {
	defer unix.Close(fdSwitchless)
	if h.Slots < 1 || h.Slots > boundary.MaxSwitchlessSlots || h.Capacity < 4096 || h.Capacity > boundary.MaxSwitchlessCapacity {
		return nil, fmt.Errorf("enclave: switchless region of %d slots × %d bytes is out of range", h.Slots, h.Capacity)
	}
	seals, err := unix.FcntlInt(fdSwitchless, unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, fmt.Errorf("enclave: switchless region: %w", err)
	}
	if want := unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL; seals&want != want {
		return nil, fmt.Errorf("enclave: switchless region is not sealed against shrinking")
	}
	size := boundary.SwitchlessSize(h.Slots, h.Capacity)
	var st unix.Stat_t
	if err := unix.Fstat(fdSwitchless, &st); err != nil {
		return nil, fmt.Errorf("enclave: switchless region: %w", err)
	}
	if st.Size < int64(size) {
		return nil, fmt.Errorf("enclave: switchless region is %d bytes, want %d", st.Size, size)
	}
	mem, err := unix.Mmap(fdSwitchless, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("enclave: map switchless region: %w", err)
	}
	sw, err := boundary.OpenSwitchless(mem, h.Slots, h.Capacity)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return sw, nil
}
