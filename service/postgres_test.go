package service_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/confide-dev/confide/client"
	"github.com/confide-dev/confide/service"
	"github.com/confide-dev/confide/service/servicetest"
)

// pgCluster starts one PostgreSQL cluster per test binary (unless
// CONFIDE_TEST_POSTGRES names one) with scripts/postgres.sh.
type pgCluster struct {
	once  sync.Once
	dsn   string
	err   string
	state string
}

var cluster pgCluster // set up lazily; TestMain stops it

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster.state != "" {
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "scripts", "postgres.sh"), "stop")
		cmd.Env = append(os.Environ(), "CONFIDE_PG_STATE="+cluster.state)
		cmd.Run()
		os.RemoveAll(filepath.Dir(cluster.state))
	}
	os.Exit(code)
}

// postgresDB returns the URL of a new, empty database, or skips.
func postgresDB(t testing.TB) string {
	t.Helper()
	cluster.once.Do(func() {
		if d := os.Getenv("CONFIDE_TEST_POSTGRES"); d != "" {
			cluster.dsn = d
			return
		}
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "confide-pgstate")
		if err != nil {
			cluster.err = err.Error()
			return
		}
		cluster.state = filepath.Join(dir, "state")
		cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "scripts", "postgres.sh"), "start")
		cmd.Env = append(os.Environ(), "CONFIDE_PG_STATE="+cluster.state)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			cluster.err = err.Error() + ": " + stderr.String()
			return
		}
		cluster.dsn = strings.TrimSpace(string(out))
	})
	if cluster.dsn == "" {
		t.Skipf("PostgreSQL unavailable (scripts/postgres.sh start failed: %s); set CONFIDE_TEST_POSTGRES to a DSN to run", cluster.err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cluster.dsn)
	if err != nil {
		t.Skipf("PostgreSQL at %s unreachable: %v", cluster.dsn, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "confide_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cluster.dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestPostgresReplicas runs two service replicas on one PostgreSQL
// database: a nonce is consumed once across both, keys created on one are
// released by the other, and concurrent writes keep the audit chain whole.
func TestPostgresReplicas(t *testing.T) {
	db := postgresDB(t)
	dir := t.TempDir() // shared master key and admin token
	const issuer = "https://attest.example"
	var replicas []*env
	for i := 0; i < 2; i++ {
		srv, err := service.New(context.Background(), service.Options{DataDir: dir, DatabaseURL: db, Verifier: servicetest.Verifier{},
			Issuer: issuer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(func() { ts.Close(); srv.Close() })
		e := &env{srv: srv, ts: ts, url: ts.URL, dir: dir}
		e.admin, _ = client.New(ts.URL, &client.Options{AdminToken: srv.AdminToken()})
		e.anon, _ = client.New(ts.URL, nil)
		replicas = append(replicas, e)
	}
	a, b := replicas[0], replicas[1]
	ctx := context.Background()
	ek := newEnclaveKey(t, "rsa")
	ev := servicetest.Evidence(servicetest.SGXClaims(ek.runtime))

	t.Run("nonce single use across replicas", func(t *testing.T) {
		n, err := a.anon.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const racers = 6
		res := make(chan error, racers)
		for i := 0; i < racers; i++ {
			go func(i int) {
				_, err := replicas[i%2].anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, n)
				res <- err
			}(i)
		}
		ok := 0
		for i := 0; i < racers; i++ {
			if <-res == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d racing attestations on one nonce succeeded; want 1", ok, racers)
		}
	})
	t.Run("create on one, release on the other", func(t *testing.T) {
		if err := a.admin.Put(ctx, "/keys/shared", "7.4", map[string]any{"kty": "EC-HSM", "crv": "P-256", "release_policy": skrPolicy(issuer, strings.Repeat("11", 32))}, nil); err != nil {
			t.Fatal(err)
		}
		tok, err := a.anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, "")
		if err != nil {
			t.Fatal(err)
		}
		v, err := b.anon.Release(ctx, "shared", tok)
		if err != nil {
			t.Fatalf("Release on replica b = %v", err)
		}
		set, _ := b.anon.Certs(ctx)
		if _, err := client.Unwrap(v, set, ek.priv); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("concurrent writes keep one chain", func(t *testing.T) {
		before, err := service.VerifyAudit(ctx, dir, db)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		const per = 10
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < per; j++ {
					replicas[i%2].anon.Attest(ctx, "SgxEnclave", ev, ek.runtime, "")
				}
			}(i)
		}
		wg.Wait()
		after, err := service.VerifyAudit(ctx, dir, db)
		if err != nil {
			t.Fatalf("VerifyAudit() = %v", err)
		}
		if got := after.Records - before.Records; got != 4*per {
			t.Errorf("audit records added = %d; want %d", got, 4*per)
		}
	})
}

func TestCrashRecoveryPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the confide binary")
	}
	crashRecovery(t, postgresDB(t))
}
