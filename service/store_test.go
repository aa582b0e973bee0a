package service

import (
	"context"
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
					errs[i] = s.tx(ctx, func(tx *sqlTx) error {
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

// TestGroupSavepoints runs one group by hand whose calls append to the
// audit log and then fail, succeed or panic: each failure is rolled back to
// its savepoint alone, and the records of the others form one chain.
func TestGroupSavepoints(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			before, err := s.verifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			errFail := errors.New("fail on purpose")
			outcomes := []string{"ok", "fail", "ok", "panic", "fail", "ok"}
			var group []*txJob
			for i, o := range outcomes {
				group = append(group, &txJob{ctx: ctx, done: make(chan error, 1), fn: func(tx *sqlTx) error {
					for range 2 {
						if err := appendAudit(ctx, tx, AuditEvent{Action: "test", Subject: fmt.Sprint(i, o)}); err != nil {
							return err
						}
					}
					switch o {
					case "fail":
						return errFail
					case "panic":
						panic(o)
					}
					return nil
				}})
			}
			s.runGroup(group)
			for i, j := range group {
				err := <-j.done
				if (outcomes[i] == "ok") != (err == nil) || (outcomes[i] == "fail" && !errors.Is(err, errFail)) {
					t.Errorf("call %d (%s) = %v", i, outcomes[i], err)
				}
			}
			after, err := s.verifyAudit(ctx)
			if err != nil {
				t.Fatalf("audit chain after the group: %v", err)
			}
			if got, want := after.Records-before.Records, 2*3; got != want {
				t.Errorf("group appended %d records; want %d (2 for each call that succeeded)", got, want)
			}
		})
	}
}

// TestTxAfterClose checks that calls on a closed store fail rather than
// wait forever.
func TestTxAfterClose(t *testing.T) {
	s, err := openStore(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.tx(context.Background(), func(*sqlTx) error { return nil })
	if !errors.Is(err, errStoreClosed) {
		t.Errorf("tx after Close = %v; want errStoreClosed", err)
	}
}
