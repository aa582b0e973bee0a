package service

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/confide-dev/confide/internal/placeholders"
)

// pgLockKey is the advisory lock every PostgreSQL transaction takes first,
// the equivalent of SQLite's BEGIN IMMEDIATE: writes from all replicas are
// serialized, so audit appends form one chain and nonce consumption is
// exclusive.
const pgLockKey = 0x636f6e66 // "conf"

// pgConnector opens database/sql connections backed by pgx.Conn (the pgx
// core, without its pool). It rewrites "?" placeholders to "$n" so the
// service's SQL is shared with SQLite.
type pgConnector struct{ dsn string }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	return &pgConn{c: conn}, nil
}

func (c pgConnector) Driver() driver.Driver { return pgDriver{c} }

type pgDriver struct{ c pgConnector }

func (d pgDriver) Open(name string) (driver.Conn, error) {
	return pgConnector{dsn: name}.Connect(context.Background())
}

type pgConn struct{ c *pgx.Conn }

func pgArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

func (c *pgConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("service: prepared statements are not used")
}
func (c *pgConn) Close() error { return c.c.Close(context.Background()) }
func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *pgConn) IsValid() bool { return !c.c.IsClosed() }
func (c *pgConn) Ping(ctx context.Context) error {
	return c.c.Ping(ctx)
}

func (c *pgConn) BeginTx(ctx context.Context, _ driver.TxOptions) (driver.Tx, error) {
	if _, err := c.c.Exec(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	if _, err := c.c.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgLockKey)); err != nil {
		c.c.Exec(context.Background(), "ROLLBACK")
		return nil, err
	}
	return pgTx{c.c}, nil
}

type pgTx struct{ c *pgx.Conn }

func (t pgTx) Commit() error {
	_, err := t.c.Exec(context.Background(), "COMMIT")
	return err
}
func (t pgTx) Rollback() error {
	_, err := t.c.Exec(context.Background(), "ROLLBACK")
	return err
}

func (c *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	tag, err := c.c.Exec(ctx, placeholders.Dollar(q), pgArgs(args)...)
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (c *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.c.Query(ctx, placeholders.Dollar(q), pgArgs(args)...)
	if err != nil {
		return nil, err
	}
	return &pgRows{r: rows}, nil
}

type pgRows struct{ r pgx.Rows }

func (r *pgRows) Columns() []string {
	fd := r.r.FieldDescriptions()
	out := make([]string, len(fd))
	for i, f := range fd {
		out[i] = f.Name
	}
	return out
}

func (r *pgRows) Close() error {
	r.r.Close()
	return r.r.Err()
}

func (r *pgRows) Next(dest []driver.Value) error {
	if !r.r.Next() {
		if err := r.r.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	vals, err := r.r.Values()
	if err != nil {
		return err
	}
	for i, v := range vals {
		switch x := v.(type) {
		case int32:
			dest[i] = int64(x)
		case int16:
			dest[i] = int64(x)
		case nil, int64, float64, bool, []byte, string:
			dest[i] = x
		default:
			dest[i] = fmt.Sprint(x)
		}
	}
	return nil
}

// openPostgres opens the database at a postgres:// URL.
func openPostgres(dsn string) *sql.DB {
	return sql.OpenDB(pgConnector{dsn: dsn})
}

// pgSchema adapts a SQLite migration to PostgreSQL types.
func pgSchema(m string) []string {
	m = strings.ReplaceAll(m, "BLOB", "BYTEA")
	m = strings.ReplaceAll(m, "INTEGER", "BIGINT")
	var out []string
	for _, s := range strings.Split(m, ";") {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
