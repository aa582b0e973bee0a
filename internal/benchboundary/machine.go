package benchboundary

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a report was measured.
type Machine struct {
	// Cores is the number of logical CPUs usable by the process.
	Cores int `json:"cores"`
	// CPUModel is the first "model name" of /proc/cpuinfo, "" if unknown.
	CPUModel string `json:"cpu_model"`
	// GoVersion is the Go release the binary was built with.
	GoVersion string `json:"go_version"`
	// OS and Arch are GOOS and GOARCH.
	OS   string `json:"os"`
	Arch string `json:"arch"`
	// Kernel is the kernel release (uname -r).
	Kernel string `json:"kernel"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when
	// the measurement started: how busy the machine was.
	LoadAvg string `json:"load_avg"`
}

// ReadMachine describes the machine this process runs on. What cannot be
// read is left empty.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: goVersion(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// maxCPUModel bounds the model name taken from /proc/cpuinfo.
const maxCPUModel = 256

// cpuModel returns the value of the first "model name" line of
// /proc/cpuinfo text (x86), or else of the first "Processor", "cpu model"
// or "uarch" line (other architectures), or "".
func cpuModel(cpuinfo []byte) string {
	var fallback string
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" || len(v) > maxCPUModel || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			continue
		}
		switch k {
		case "model name":
			return v
		case "Processor", "cpu model", "uarch":
			if fallback == "" {
				fallback = v
			}
		}
	}
	return fallback
}
