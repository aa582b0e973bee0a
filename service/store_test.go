package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// stores returns the SQLite store, and the PostgreSQL one when
// CONFIDE_TEST_POSTGRES is set.
func stores(t *testing.T) map[string]*store {
	t.Helper()
	m := map[string]*store{}
	s, err := openStore(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m["sqlite"] = s
	if url := os.Getenv("CONFIDE_TEST_POSTGRES"); url != "" {
		p, err := openStore(context.Background(), "", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		m["postgres"] = p
	}
	return m
}

// TestGroupCommit runs many concurrent transactions, some failing: the
// failures leave nothing behind, the others all land, and the audit chain
// they append to stays linear.
func TestGroupCommit(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			prefix := fmt.Sprintf("gc-%s-%p-", name, s)
			errFail := errors.New("fail on purpose")
			const n = 60
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.tx(ctx, func(tx *sql.Tx) error {
						if _, err := tx.ExecContext(ctx, `INSERT INTO config (name, value) VALUES (?, ?)`, fmt.Sprint(prefix, i), []byte("v")); err != nil {
							return err
						}
						if err := appendAudit(ctx, tx, AuditEvent{Action: "test", Subject: fmt.Sprint(i), Granted: true}); err != nil {
							return err
						}
						if i%3 == 0 {
							return errFail
						}
						return nil
					})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if (i%3 == 0) != errors.Is(err, errFail) || (i%3 != 0 && err != nil) {
					t.Errorf("tx %d = %v", i, err)
				}
			}
			var count int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM config WHERE name LIKE ?`, prefix+"%").Scan(&count); err != nil {
				t.Fatal(err)
			}
			if want := n - (n+2)/3; count != want {
				t.Errorf("%d rows landed; want %d (failed transactions must leave nothing)", count, want)
			}
			if _, err := s.verifyAudit(ctx); err != nil {
				t.Errorf("audit chain after group commits: %v", err)
			}
		})
	}
}
