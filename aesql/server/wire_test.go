package server_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide-dev/confide/aesql/server"
	"github.com/confide-dev/confide/aesql/server/servertest"
)

var update = flag.Bool("update", false, "rewrite testdata/psql-*.bin from a real psql session")

func TestMain(m *testing.M) { servertest.Main(m) }

// psqlScript is what the recorded psql session runs.
const psqlScript = `CREATE TABLE t (id int NOT NULL, name nvarchar(20));
INSERT INTO t (id, name) VALUES (1, 'one'), (2, 'two');
SELECT id, name FROM t WHERE id > 1;
SELECT count(*) FROM t;
SELECT * FROM t WHERE nope = 1;
`

// proxy forwards one connection to addr and records what the client sent.
func proxy(t *testing.T, addr string) (string, *bytes.Buffer, *sync.WaitGroup) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rec bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer s.Close()
		done := make(chan struct{})
		go func() { io.Copy(c, s); close(done) }()
		io.Copy(io.MultiWriter(s, &rec), c)
		s.(*net.TCPConn).CloseWrite()
		<-done
	}()
	return l.Addr().String(), &rec, &wg
}

// TestPsql runs real psql against the server: the simple query protocol,
// results, errors with SQLSTATEs. With -update it records the bytes psql
// sent as the seed of FuzzServeConn.
func TestPsql(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql is not installed (scripts/postgres.sh installs it)")
	}
	f := servertest.Start(t, servertest.Options{NoEnclave: true})
	addr, rec, wg := proxy(t, f.Addr)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("psql", "-X", "-h", host, "-p", port, "-U", "test", "-d", "db", "-A", "-t", "-c", "\\set VERBOSITY verbose", "-f", "-")
	cmd.Env = append(os.Environ(), "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=10")
	cmd.Stdin = strings.NewReader(psqlScript)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("psql: %v\n%s", err, stderr.String())
	}
	wg.Wait()
	want := "CREATE TABLE\nINSERT 0 2\n2|two\n2\n"
	if out.String() != want {
		t.Errorf("psql output = %q; want %q", out.String(), want)
	}
	if !strings.Contains(stderr.String(), "ERROR:  XX000") && !strings.Contains(stderr.String(), "no such column: nope") {
		t.Errorf("psql stderr = %q; want the unknown column error", stderr.String())
	}
	if rec.Len() == 0 {
		t.Fatal("nothing recorded")
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "psql-simple.bin"), rec.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bufConn is a connection that reads from a fixed input (then EOF) and
// keeps what is written.
type bufConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *bufConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *bufConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// serveBytes runs ServeConn on the client bytes in and returns what the
// server answered; the input ends in EOF, so ServeConn returns.
func serveBytes(t testing.TB, s *server.Server, in []byte) []byte {
	c := &bufConn{in: bytes.NewReader(in)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.ServeConn(ctx, c)
	return c.out.Bytes()
}

func FuzzServeConn(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if len(seeds) == 0 {
		f.Fatal("no recorded psql traffic in testdata (run TestPsql -update)")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// The same traffic cut short and with one byte changed.
		f.Add(b[:len(b)/2])
		c := bytes.Clone(b)
		c[len(c)/3] ^= 0x5a
		f.Add(c)
	}
	s, err := server.New(context.Background(), server.Options{MaxMessage: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		serveBytes(t, s, in)
	})
}

func TestRecordedTrafficReplays(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "psql-simple.bin"))
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("testdata/psql-simple.bin is missing (run TestPsql -update with psql installed)")
	}
	s, err := server.New(context.Background(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := serveBytes(t, s, b)
	for _, want := range []string{"CREATE TABLE", "INSERT 0 2", "two", "no such column"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("replayed psql session: answer lacks %q", want)
		}
	}
}

// TestExtendedTraffic records (with -update) a session of the extended
// query protocol as the pgx driver speaks it (Parse, Bind, Describe,
// Execute, Sync with binary bytea parameters) and checks its replay.
func TestExtendedTraffic(t *testing.T) {
	f := servertest.Start(t, servertest.Options{NoEnclave: true})
	addr, rec, wg := proxy(t, f.Addr)
	ctx := context.Background()
	pc, err := pgconn.Connect(ctx, "postgres://test@"+addr+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		sql     string
		args    [][]byte
		oids    []uint32
		formats []int16
	}{
		{`CREATE TABLE b (id int NOT NULL, v varbinary(100))`, nil, nil, nil},
		{`INSERT INTO b (id, v) VALUES ($1, $2)`, [][]byte{[]byte("7"), {0, 1, 2, 0xff}}, []uint32{20, 17}, []int16{0, 1}},
		{`SELECT id, v FROM b WHERE id = $1`, [][]byte{[]byte("7")}, []uint32{20}, nil},
	}
	var last [][]byte
	for _, s := range steps {
		res := pc.ExecParams(ctx, s.sql, s.args, s.oids, s.formats, nil).Read()
		if res.Err != nil {
			t.Fatalf("%s: %v", s.sql, res.Err)
		}
		if len(res.Rows) > 0 {
			last = res.Rows[0]
		}
	}
	pc.Close(ctx)
	wg.Wait()
	if len(last) != 2 || string(last[0]) != "7" || string(last[1]) != `\x000102ff` {
		t.Errorf("SELECT row = %q; want [7 \\x000102ff]", last)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "pgconn-extended.bin"), rec.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "pgconn-extended.bin"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(ctx, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if out := serveBytes(t, s, b); !bytes.Contains(out, []byte(`\x000102ff`)) {
		t.Errorf("replayed extended session lacks the bytea row")
	}
}

// TestCommentOnlyQuery: a prepared statement of only comments is an empty
// query, as in PostgreSQL, not a statement for the storage.
func TestCommentOnlyQuery(t *testing.T) {
	f := servertest.Start(t, servertest.Options{NoEnclave: true})
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, "postgres://test@"+f.Addr+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range []string{"/* nothing */", "-- nothing\n", ";"} {
		if _, err := c.ExecParams(ctx, q, nil, nil, nil, nil).Close(); err != nil {
			t.Errorf("ExecParams(%q) = %v", q, err)
		}
	}
	if _, err := c.ExecParams(ctx, "SELECT 1", nil, nil, nil, nil).Close(); err != nil {
		t.Errorf("SELECT 1 after them: %v", err)
	}
}
