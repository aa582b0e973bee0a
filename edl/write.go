package edl

import (
	"os"
	"path/filepath"
	"strings"
)

// Write writes out as Go files named after base: base_trusted.go into
// trustedDir, base_untrusted.go into untrustedDir, and base_types.go once
// into each distinct directory that receives a side. It returns the paths
// written, in order.
func Write(out *Output, base, trustedDir, untrustedDir string) ([]string, error) {
	base = strings.TrimSuffix(filepath.Base(base), filepath.Ext(base))
	var written []string
	put := func(dir, suffix string, data []byte) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p := filepath.Join(dir, base+suffix)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		written = append(written, p)
		return nil
	}
	typesDirs := map[string]bool{}
	for _, s := range []struct {
		data   []byte
		dir    string
		suffix string
	}{{out.Trusted, trustedDir, "_trusted.go"}, {out.Untrusted, untrustedDir, "_untrusted.go"}} {
		if s.data == nil {
			continue
		}
		if err := put(s.dir, s.suffix, s.data); err != nil {
			return written, err
		}
		clean := filepath.Clean(s.dir)
		if !typesDirs[clean] {
			typesDirs[clean] = true
			if err := put(s.dir, "_types.go", out.Types); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}
