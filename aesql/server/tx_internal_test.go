package server

import (
	"testing"

	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

func TestParseTxControl(t *testing.T) {
	for _, c := range []struct {
		q    string
		want txControl
	}{
		{"BEGIN", txControl{kind: txBegin}},
		{"begin transaction;", txControl{kind: txBegin}},
		{"BEGIN IMMEDIATE", txControl{kind: txBegin}},
		{"BEGIN ISOLATION LEVEL REPEATABLE READ", txControl{kind: txBegin}},
		{"START TRANSACTION READ ONLY", txControl{kind: txBegin}},
		{"COMMIT", txControl{kind: txCommit}},
		{"END TRANSACTION", txControl{kind: txCommit}},
		{"COMMIT AND CHAIN", txControl{kind: txCommit, chain: true}},
		{"COMMIT AND NO CHAIN", txControl{kind: txCommit}},
		{"ROLLBACK", txControl{kind: txRollback}},
		{"ABORT", txControl{kind: txRollback}},
		{"ROLLBACK WORK AND CHAIN", txControl{kind: txRollback, chain: true}},
		{"ROLLBACK TO s1", txControl{kind: txRollbackTo, name: "s1"}},
		{"ROLLBACK TRANSACTION TO SAVEPOINT \"S 1\"", txControl{kind: txRollbackTo, name: "S 1"}},
		{"SAVEPOINT s1", txControl{kind: txSavepoint, name: "s1"}},
		{"RELEASE s1", txControl{kind: txRelease, name: "s1"}},
		{"RELEASE SAVEPOINT s1;", txControl{kind: txRelease, name: "s1"}},
		{"PREPARE TRANSACTION 'x'", txControl{kind: txPrepare}},
		// Not the connection's own transaction control.
		{"COMMIT PREPARED 'x'", txControl{}},
		{"ROLLBACK PREPARED 'x'", txControl{}},
		{"PREPARE q AS SELECT 1", txControl{}},
		{"START", txControl{}},
		{"SAVEPOINT", txControl{}},
		{"ROLLBACK TO", txControl{}},
		{"SELECT 1", txControl{}},
		{"", txControl{}},
	} {
		t.Run(c.q, func(t *testing.T) {
			toks, err := sqlq.Lex(c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := parseTxControl(toks); got != c.want {
				t.Errorf("parseTxControl(%q) = %+v; want %+v", c.q, got, c.want)
			}
		})
	}
}

func TestMayWrite(t *testing.T) {
	for _, c := range []struct {
		q    string
		want bool
	}{
		{"REPLACE INTO t VALUES (1)", true},
		{"VACUUM", true},
		{"WITH x AS (SELECT 1) DELETE FROM t", true},
		{"EXPLAIN ANALYZE UPDATE t SET a = 1", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", false},
		{"EXPLAIN QUERY PLAN SELECT * FROM t", false},
		{"VALUES (1)", false},
		{"PRAGMA table_info(t)", false},
		{"", false},
	} {
		t.Run(c.q, func(t *testing.T) {
			toks, err := sqlq.Lex(c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := mayWrite(toks); got != c.want {
				t.Errorf("mayWrite(%q) = %v; want %v", c.q, got, c.want)
			}
		})
	}
}
