package driver_test

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confide-dev/confide/aesql/driver"
	"github.com/confide-dev/confide/aesql/keystore"
)

// countingStore is the real file store, counting unwraps.
type countingStore struct {
	*keystore.FileStore
	unwraps atomic.Int32
}

func (s *countingStore) UnwrapKey(ctx context.Context, keyPath, algorithm string, encrypted []byte) ([]byte, error) {
	s.unwraps.Add(1)
	return s.FileStore.UnwrapKey(ctx, keyPath, algorithm, encrypted)
}

// TestCEKCacheTTL: unwrapped CEKs are reused until CEKCacheTTL passes,
// then unwrapped again.
func TestCEKCacheTTL(t *testing.T) {
	w := setup(t, 12)
	cfg, err := driver.ParseDSN(w.f.DSN())
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{FileStore: keystore.NewFileStore(w.f.KeyStore)}
	cfg.KeyStores = map[string]keystore.KeyStore{keystore.FileStoreProvider: store}
	var mu sync.Mutex
	now := time.Now()
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg.CEKCacheTTL = time.Hour
	conn, err := driver.NewConnector(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	q := func() {
		t.Helper()
		var ssn string
		if err := db.QueryRow(`SELECT SSN FROM Patients WHERE Salary >= $1 AND PatientId = $2`, 0, 3).Scan(&ssn); err != nil {
			t.Fatal(err)
		}
		if ssn != w.ps[2].ssn {
			t.Fatalf("SSN = %q; want %q", ssn, w.ps[2].ssn)
		}
	}
	q()
	q()
	q()
	if n := store.unwraps.Load(); n != 1 {
		t.Errorf("unwraps after three queries within the TTL = %d; want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	q()
	if n := store.unwraps.Load(); n != 2 {
		t.Errorf("unwraps after the TTL = %d; want 2", n)
	}
	conn.Close()
}
