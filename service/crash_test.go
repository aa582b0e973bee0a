package service_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/service/servicetest"
)

// buildConfide builds cmd/confide into a temporary directory.
func buildConfide(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "confide")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/confide")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/confide: %v\n%s", err, out)
	}
	return bin
}

// startServe starts "confide serve" on a loopback port and returns the
// process and its base URL.
func startServe(t *testing.T, bin, dir, simDir, db string) (*exec.Cmd, string) {
	t.Helper()
	args := []string{"serve", "--http", "--listen", "127.0.0.1:0", "--data", dir, "--allow-sim", "--sim-dir", simDir}
	if db != "" {
		args = append(args, "--db", db)
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("confide serve did not print its URL: %v\n%s", err, stderr.String())
	}
	return cmd, strings.TrimSpace(line)
}

// TestCrashRecovery kills confide serve with SIGKILL in the middle of a
// burst of key creations and releases, restarts it, and checks that every
// acknowledged write survived and the audit chain verifies.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the confide binary")
	}
	crashRecovery(t, "")
}

// crashRecovery runs the crash test on SQLite (db "") or PostgreSQL.
func crashRecovery(t *testing.T, db string) {
	bin := buildConfide(t)
	dir := t.TempDir()
	sim, err := servicetest.NewSim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, url := startServe(t, bin, dir, sim.Dir, db)
	admin, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hc := &http.Client{Timeout: 5 * time.Second}
	adm, _ := client.New(url, &client.Options{AdminToken: string(admin), HTTPClient: hc})
	anon, _ := client.New(url, &client.Options{HTTPClient: hc})
	ek := newEnclaveKey(t, "rsa")
	quote, err := sim.Quote(ek.runtime)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := anon.Attest(ctx, "SgxEnclave", quote, ek.runtime, "")
	if err != nil {
		t.Fatalf("Attest() = %v", err)
	}
	policy := skrPolicy(url, strings.Repeat("11", 32))

	var mu sync.Mutex
	acked := map[string]bool{}
	releases := 0
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("k-%d-%d", w, i)
				if err := adm.Put(ctx, "/keys/"+name, "7.4", map[string]any{"kty": "oct-HSM", "release_policy": policy}, nil); err != nil {
					return // the server died
				}
				mu.Lock()
				acked[name] = true
				mu.Unlock()
				if _, err := anon.Release(ctx, name, tok); err != nil {
					return
				}
				mu.Lock()
				releases++
				mu.Unlock()
			}
		}(w)
	}
	// Kill once a good number of writes are acknowledged, mid-burst.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}

	_, url2 := startServe(t, bin, dir, sim.Dir, db)
	for name := range acked {
		resp, err := hc.Get(url2 + "/keys/" + name + "?api-version=7.4")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /keys/%s after restart = %d; want 200 (the write was acknowledged)", name, resp.StatusCode)
		}
	}
	// The attest command works against the restarted service.
	evFile, rtFile := filepath.Join(t.TempDir(), "ev"), filepath.Join(t.TempDir(), "rt")
	os.WriteFile(evFile, quote, 0o644)
	os.WriteFile(rtFile, ek.runtime, 0o644)
	tokOut, err := exec.Command(bin, "attest", "--service", url2, "--evidence", evFile, "--runtime-data", rtFile, "--nonce").Output()
	if err != nil || strings.Count(strings.TrimSpace(string(tokOut)), ".") != 2 {
		t.Errorf("confide attest = %v, %q; want a JWT on stdout", err, tokOut)
	}
	badOut, err := exec.Command(bin, "attest", "--service", url2, "--evidence", rtFile).Output()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != 3 || len(badOut) != 0 {
		t.Errorf("confide attest (bad evidence) = %v, %q; want exit 3 and nothing on stdout", err, badOut)
	}

	verify := []string{"audit", "verify", "--json"}
	if db != "" {
		verify = append(verify, "--db", db)
	} else {
		verify = append(verify, "--data", dir)
	}
	out, err := exec.Command(bin, verify...).Output()
	if err != nil {
		t.Fatalf("confide audit verify: %v\n%s", err, out)
	}
	var rep struct {
		OK      bool `json:"ok"`
		Records int  `json:"records"`
	}
	json.Unmarshal(out, &rep)
	// One record per attestation, acknowledged key creation and release.
	if !rep.OK || rep.Records < 3+len(acked)+releases {
		t.Errorf("audit verify = %s; want ok with at least %d records", out, 3+len(acked)+releases)
	}
	t.Logf("%d acknowledged creations, %d releases, %d audit records", len(acked), releases, rep.Records)

	if db == "" {
		// Edit one record behind the service's back: audit verify must
		// name it and exit with the verification failure code (3).
		sdb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "confide.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		if _, err := sdb.Exec(`UPDATE audit SET payload = CAST('{}' AS BLOB) WHERE seq = 5`); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, verify...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), `"break_seq":5`) {
			t.Errorf("audit verify after editing record 5 = %v, %s; want exit 3 and break_seq 5", err, out)
		}
	}
}
