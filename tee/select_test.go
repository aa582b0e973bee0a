package tee

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func fakeRoot(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"empty", nil, NameSim},
		{"gramine", []string{"dev/attestation"}, NameGramine},
		{"tsm", []string{"sys/kernel/config/tsm/report"}, NameTSM},
		{"tsm-parent-only", []string{"sys/kernel/config/tsm"}, NameSim},
		{"both-prefers-gramine", []string{"dev/attestation", "sys/kernel/config/tsm/report"}, NameGramine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(fakeRoot(t, tc.dirs...)); got != tc.want {
				t.Errorf("Detect(%v) = %q; want %q", tc.dirs, got, tc.want)
			}
		})
	}
	t.Run("file-not-dir", func(t *testing.T) {
		root := fakeRoot(t, "dev")
		os.WriteFile(filepath.Join(root, "dev/attestation"), nil, 0o644)
		if got := Detect(root); got != NameSim {
			t.Errorf("Detect(dev/attestation is a file) = %q; want sim", got)
		}
	})
}

func TestSelect(t *testing.T) {
	empty := fakeRoot(t)
	gramine := fakeRoot(t, "dev/attestation")
	tsm := fakeRoot(t, "sys/kernel/config/tsm/report")
	for _, tc := range []struct {
		name, requested, root, want string
		err                         bool
	}{
		{"auto-empty", "auto", empty, NameSim, false},
		{"default-gramine", "", gramine, NameGramine, false},
		{"auto-tsm", "auto", tsm, NameTSM, false},
		{"sim-forced", "sim", tsm, NameSim, false},
		{"gramine-present", "gramine", gramine, NameGramine, false},
		{"gramine-absent", "gramine", empty, "", true},
		{"tsm-absent", "tsm", gramine, "", true},
		{"unknown", "sgx2", empty, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(tc.requested, tc.root)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("Select(%q) = %q, %v; want %q (error %v)", tc.requested, got, err, tc.want, tc.err)
			}
			if tc.err && !errors.Is(err, ErrPlatform) {
				t.Errorf("Select(%q) error = %v; want ErrPlatform", tc.requested, err)
			}
		})
	}
}
