package tee

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Platform names, as Info.Name reports them.
const (
	NameSim     = "sim"
	NameGramine = "gramine"
	NameTSM     = "tsm"
)

// Paths (relative to the file-system root) whose presence selects a
// platform: Gramine's attestation pseudo-directory and Linux configfs-tsm.
const (
	GramineDir = "dev/attestation"
	TSMDir     = "sys/kernel/config/tsm/report"
)

// ErrPlatform is returned by Select for an unknown or unavailable platform.
var ErrPlatform = errors.New("tee: platform not available")

// Detect returns the platform to use on the machine whose file system is
// rooted at fsroot ("" means "/"): "gramine" when dev/attestation exists,
// else "tsm" when sys/kernel/config/tsm/report exists, else "sim".
func Detect(fsroot string) string {
	if fsroot == "" {
		fsroot = "/"
	}
	if isDir(filepath.Join(fsroot, GramineDir)) {
		return NameGramine
	}
	if isDir(filepath.Join(fsroot, TSMDir)) {
		return NameTSM
	}
	return NameSim
}

// Select resolves a requested platform name: "" or "auto" means Detect;
// "sim" is always available; "gramine" and "tsm" only when their directory
// exists under fsroot. It returns an error wrapping ErrPlatform otherwise.
func Select(requested, fsroot string) (string, error) {
	if fsroot == "" {
		fsroot = "/"
	}
	switch requested {
	case "", "auto":
		return Detect(fsroot), nil
	case NameSim:
		return NameSim, nil
	case NameGramine:
		if isDir(filepath.Join(fsroot, GramineDir)) {
			return NameGramine, nil
		}
		return "", fmt.Errorf("%w: gramine: %s not found", ErrPlatform, filepath.Join(fsroot, GramineDir))
	case NameTSM:
		if isDir(filepath.Join(fsroot, TSMDir)) {
			return NameTSM, nil
		}
		return "", fmt.Errorf("%w: tsm: %s not found", ErrPlatform, filepath.Join(fsroot, TSMDir))
	}
	return "", fmt.Errorf("%w: unknown platform %q (want auto, sim, gramine or tsm)", ErrPlatform, requested)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
