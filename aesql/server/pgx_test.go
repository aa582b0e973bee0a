package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/server/servertest"
)

// TestPgx connects with pgx in its default mode (statements prepared and
// described, parameters and results in binary where pgx knows the type):
// an ordinary driver that knows nothing of encryption.
func TestPgx(t *testing.T) {
	f := servertest.Start(t, servertest.Options{NoEnclave: true})
	ctx := context.Background()
	c, err := pgx.Connect(ctx, "postgres://test@"+f.Addr+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range append(strings.Split(f.KeysDDL, ";\n"),
		`CREATE TABLE t (id int NOT NULL, name nvarchar(20), born date, score float,
			secret int ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`) {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	key, _ := aesql.NewKey(f.CEK1)
	cell := func(v int) []byte {
		p, _ := aesql.Normalize(aesql.Type{Kind: aesql.Int}, v)
		b, _ := key.Encrypt(p, true)
		return b
	}
	for i := 1; i <= 3; i++ {
		if _, err := c.Exec(ctx, `INSERT INTO t (id, name, born, score, secret) VALUES ($1, $2, $3, $4, $5)`,
			i, fmt.Sprint("n", i), time.Date(2000+i, 1, 2, 0, 0, 0, 0, time.UTC), float64(i)/2, cell(i*10)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := c.Query(ctx, `SELECT id, name, score, secret, count(*) FROM t WHERE id > $1 AND secret <> $2 GROUP BY id, name, score, secret ORDER BY id`, 1, cell(30))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, n int64
		var name string
		var score float64
		var secret []byte
		if err := rows.Scan(&id, &name, &score, &secret, &n); err != nil {
			t.Fatal(err)
		}
		plain, err := key.Decrypt(secret)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := aesql.Denormalize(aesql.Type{Kind: aesql.Int}, plain)
		got = append(got, fmt.Sprintf("%d %s %g %v %d", id, name, score, v, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"2 n2 1 20 1"}; !slices.Equal(got, want) {
		t.Errorf("rows = %q; want %q", got, want)
	}
	// A plaintext value for the encrypted column is refused: pgx will not
	// send an int as the bytea the statement describes, and interpolated
	// into the text (simple protocol) it is a literal.
	if _, err = c.Exec(ctx, `SELECT id FROM t WHERE secret = $1`, 20); err == nil {
		t.Error("an int parameter for an encrypted column was accepted")
	}
	_, err = c.Exec(ctx, `SELECT id FROM t WHERE secret = $1`, pgx.QueryExecModeSimpleProtocol, 20)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42804" {
		t.Errorf("plaintext parameter for an encrypted column: %v; want SQLSTATE 42804", err)
	}
	junk := make([]byte, 81)
	rand.Read(junk)
	junk[0] = 1
	if _, err := c.Exec(ctx, `INSERT INTO t (id, secret) VALUES ($1, $2)`, 9, junk[:70]); !errors.As(err, &pe) || pe.Code != "22000" {
		t.Errorf("malformed cell: %v; want SQLSTATE 22000", err)
	}
}
