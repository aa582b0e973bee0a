package servertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/keystore"
	"github.com/confide-dev/confide/aesql/server"
	"github.com/confide-dev/confide/aesql/sqlenclave"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/host"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/internal/builtin"
	"github.com/confide-dev/confide/internal/enclavetest"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// Main runs the tests, or serves the built-in enclave when the host
// started this binary as one.
func Main(m *testing.M) {
	if enclave.Running() {
		if err := builtin.Serve(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Options configure Start.
type Options struct {
	// NoEnclave starts the server without an enclave.
	NoEnclave bool
	// Debug signs the enclave as debug.
	Debug bool
	// Path is the SQLite file; empty: in memory.
	Path string
	// LoadBatch is passed to the server.
	LoadBatch int
	// Postgres, if set, is the DSN of a PostgreSQL server (as
	// CONFIDE_TEST_POSTGRES gives): the fixture stores its data in a new
	// database there, dropped when the test ends.
	Postgres string
	// InProcess runs the SQL enclave's engine (aesql/sqlenclave) in the
	// test process on a simulated platform instead of starting an enclave
	// process: the same code without the process boundary, so that tests
	// also run under the race detector (which needs cgo, which enclave
	// processes refuse).
	InProcess bool
}

// engine adapts an in-process sqlenclave.Engine to server.Enclave.
type engine struct{ calls enclave.Ecalls }

func (e engine) Call(ctx context.Context, fn uint32, in []byte) ([]byte, error) {
	f := e.calls[fn]
	if f == nil {
		return nil, fmt.Errorf("servertest: no ecall %d", fn)
	}
	return f(ctx, append([]byte{}, in...))
}

// Fixture is a running server with a column master key in a file key
// store and the DDL that declares it.
type Fixture struct {
	Server   *server.Server
	Enclave  *host.Enclave
	Addr     string
	SimDir   string
	KeyStore string // directory of the CONFIDE_KEY_FILE store
	Signer   string // hex SignerID of the enclave
	// KeysDDL creates CMK1 (enclave-enabled, signed) and CEK1 under it,
	// and CEK2 under CMK2 (not enclave-enabled).
	KeysDDL string
	// CEK1 is the plaintext of CEK1.
	CEK1 []byte
}

// Start starts a server; it stops with the test.
func Start(t testing.TB, o Options) *Fixture {
	t.Helper()
	ctx := context.Background()
	f := &Fixture{KeyStore: t.TempDir()}
	store := keystore.NewFileStore(f.KeyStore)
	for _, name := range []string{"cmk1.pem", "cmk2.pem"} {
		pemBytes, err := keystore.GenerateKeyPEM(2048)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.KeyStore, name), pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := store.SignCMKMetadata(ctx, "cmk1.pem", true)
	if err != nil {
		t.Fatal(err)
	}
	f.CEK1 = make([]byte, 32)
	rand.Read(f.CEK1)
	w1, err := store.WrapKey(ctx, "cmk1.pem", keystore.AlgorithmRSAOAEP, f.CEK1)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := keystore.NewCEK(ctx, store, "cmk2.pem", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.KeysDDL = fmt.Sprintf(`CREATE COLUMN MASTER KEY CMK1 WITH (KEY_STORE_PROVIDER_NAME = '%[1]s', KEY_PATH = 'cmk1.pem',
	ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%[2]x));
CREATE COLUMN ENCRYPTION KEY CEK1 WITH VALUES (COLUMN_MASTER_KEY = CMK1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%[3]x);
CREATE COLUMN MASTER KEY CMK2 WITH (KEY_STORE_PROVIDER_NAME = '%[1]s', KEY_PATH = 'cmk2.pem');
CREATE COLUMN ENCRYPTION KEY CEK2 WITH VALUES (COLUMN_MASTER_KEY = CMK2, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%[4]x);`,
		keystore.FileStoreProvider, sig, w1, w2)

	opts := server.Options{Path: o.Path, LoadBatch: o.LoadBatch}
	if o.Postgres != "" {
		opts.DatabaseURL = newDatabase(t, o.Postgres)
	}
	if o.InProcess {
		f.SimDir = filepath.Join(t.TempDir(), "sim")
		st, err := sim.Init(f.SimDir)
		if err != nil {
			t.Fatal(err)
		}
		var id image.Identity
		rand.Read(id.SignerID[:])
		id.ProductID, id.SecurityVersion, id.Debug = builtin.ProductSQL, 1, o.Debug
		p, err := st.Platform(id, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := sqlenclave.New(func(rd [tee.ReportDataSize]byte) ([]byte, error) { return p.Quote(rd) }, time.Now)
		f.Signer = hex.EncodeToString(id.SignerID[:])
		opts.Enclave = engine{calls: e.Ecalls()}
	} else if !o.NoEnclave {
		enclavetest.RequireSelfEnclave(t)
		f.SimDir = enclavetest.SimDir(t)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e, err := server.StartEnclave(ctx, server.EnclaveOptions{Key: key, Debug: o.Debug, Platform: "sim", SimDir: f.SimDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		id := e.Identity()
		f.Signer = hex.EncodeToString(id.SignerID[:])
		f.Enclave = e
		opts.Enclave = e
	}
	s, err := server.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() {
		l.Close()
		s.Close()
	})
	f.Server, f.Addr = s, l.Addr().String()
	return f
}

// DSN returns a driver DSN for the fixture with column encryption and
// simulated attestation of its enclave.
func (f *Fixture) DSN() string {
	return fmt.Sprintf("postgres://test@%s/db?sslmode=disable&column_encryption=enabled&key_store=%s&attestation=sim&sim_dir=%s&enclave_signer=%s",
		f.Addr, f.KeyStore, f.SimDir, f.Signer)
}

// PlainDSN returns a DSN without column encryption.
func (f *Fixture) PlainDSN() string {
	return fmt.Sprintf("postgres://test@%s/db?sslmode=disable", f.Addr)
}

// newDatabase creates a database on the PostgreSQL server at dsn and
// returns its DSN; it is dropped when the test ends.
func newDatabase(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "aesql_" + hex.EncodeToString(b[:])
	admin, err := sql.Open(driver.Name, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}
