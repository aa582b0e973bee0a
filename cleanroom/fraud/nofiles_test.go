package fraud

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide-dev/confide/cleanroom/synth"
)

func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	out := map[string]string{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil {
			out[e.Name()] = target
		}
	}
	return out
}

// TestNoFiles checks that the job, with its database open and queried,
// holds no file descriptor to any file it did not have before (the enclave
// sandbox forbids opening files).
func TestNoFiles(t *testing.T) {
	a, b, _ := tables(t, synth.Config{Seed: 1, Transactions: 2000})
	before := openFDs(t)
	ctx := context.Background()
	d, err := Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tb := range []Table{{Bank: "BANKA", R: bytes.NewReader(a)}, {Bank: "BANKB", R: bytes.NewReader(b)}} {
		if _, err := d.Load(ctx, tb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Run(ctx, Params{}); err != nil {
		t.Fatal(err)
	}
	for fd, target := range openFDs(t) {
		if before[fd] == target || strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "anon_inode:") ||
			strings.HasPrefix(target, "socket:") || strings.HasPrefix(target, "/proc/") {
			continue
		}
		t.Errorf("job holds fd %s → %s; want no files", fd, target)
	}
}
