package benchboundary

import (
	"os"
	"testing"
)

// cpuinfoX86 is an excerpt of /proc/cpuinfo on an x86-64 cloud VM.
const cpuinfoX86 = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC 7763 64-Core Processor
stepping	: 1
flags		: fpu vme de pse tsc msr pae mce cx8

processor	: 1
model name	: AMD EPYC 7763 64-Core Processor
`

// cpuinfoARM is an excerpt of /proc/cpuinfo on an older 32-bit ARM board,
// which names the CPU in a "Processor" line and has no "model name".
const cpuinfoARM = `Processor	: ARMv7 Processor rev 4 (v7l)
processor	: 0
BogoMIPS	: 38.40
Hardware	: BCM2835
`

func TestCPUModel(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"x86", cpuinfoX86, "AMD EPYC 7763 64-Core Processor"},
		{"arm", cpuinfoARM, "ARMv7 Processor rev 4 (v7l)"},
		{"empty", "", ""},
		{"no model", "processor\t: 0\nflags\t: fpu\n", ""},
		{"empty model", "model name\t:\nProcessor : X\n", "X"},
		{"control characters", "model name\t: a\x1bb\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuModel([]byte(tt.in)); got != tt.want {
				t.Errorf("cpuModel(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzCPUModel(f *testing.F) {
	f.Add([]byte(cpuinfoX86))
	f.Add([]byte(cpuinfoARM))
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil && len(b) < 1<<16 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := cpuModel(b)
		if len(m) > maxCPUModel {
			t.Fatalf("cpuModel gave %d bytes", len(m))
		}
		for _, r := range m {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("cpuModel gave a control character: %q", m)
			}
		}
	})
}
