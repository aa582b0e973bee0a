package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors the server reports; each maps to a SQLSTATE for the client.
var (
	// ErrTypeClash reports a literal or unencrypted value used with an
	// encrypted column, or values of mismatched encryption (SQL Server's
	// "operand type clash", SQLSTATE 42804).
	ErrTypeClash = errors.New("operand type clash")
	// ErrUnsupported reports an operation an encrypted column does not
	// support (SQLSTATE 0A000).
	ErrUnsupported = errors.New("not supported on encrypted columns")
	// ErrSyntax reports a statement that does not parse (SQLSTATE 42601).
	ErrSyntax = errors.New("syntax error")
	// ErrUndefined reports an unknown table, column or key (SQLSTATE 42704).
	ErrUndefined = errors.New("undefined object")
	// ErrEnclave reports a randomized-column operation the enclave could
	// not evaluate: no enclave, no attested session, a key the session
	// did not provide, or a cell that does not decrypt (SQLSTATE 55000).
	ErrEnclave = errors.New("enclave computation failed")
	// ErrDatabase reports an error from the storage engine, such as a
	// constraint violation (PostgreSQL storage's own SQLSTATE; with
	// SQLite, 23000 for constraints, else XX000).
	ErrDatabase = errors.New("database error")
	// ErrConflict reports a statement that the enclave could not evaluate
	// on the data the statement reads because other connections kept
	// committing to its tables (SQLSTATE 40001: run it, or its
	// transaction, again).
	ErrConflict = errors.New("could not serialize access due to concurrent update")
	// ErrCell reports a parameter for an encrypted column that is not a
	// well-formed cell (SQLSTATE 22000).
	ErrCell = errors.New("invalid encrypted value")
)

// Error is an error with a SQLSTATE. It wraps one of the sentinels.
type Error struct {
	Err error
	Msg string
	// code is PostgreSQL storage's SQLSTATE for an ErrDatabase error.
	code string
}

// dbError reports an error from the storage, keeping PostgreSQL's
// SQLSTATE (40001 tells a client to run its transaction again).
func dbError(err error) error {
	e := &Error{Err: ErrDatabase, Msg: err.Error()}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e.code = pe.Code
	}
	return e
}

func (e *Error) Error() string { return "server: " + e.Err.Error() + ": " + e.Msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func errf(kind error, format string, args ...any) error {
	return &Error{Err: kind, Msg: fmt.Sprintf(format, args...)}
}

// SQLState returns the SQLSTATE for err.
func SQLState(err error) string {
	switch {
	case errors.Is(err, ErrTypeClash):
		return "42804"
	case errors.Is(err, ErrUnsupported):
		return "0A000"
	case errors.Is(err, ErrSyntax):
		return "42601"
	case errors.Is(err, ErrUndefined):
		return "42704"
	case errors.Is(err, ErrEnclave):
		return "55000"
	case errors.Is(err, ErrCell):
		return "22000"
	case errors.Is(err, ErrConflict):
		return "40001"
	case errors.Is(err, ErrDatabase):
		if e := (*Error)(nil); errors.As(err, &e) && e.code != "" {
			return e.code
		}
		if e := (*Error)(nil); errors.As(err, &e) && strings.Contains(e.Msg, "constraint failed") {
			return "23000"
		}
	}
	return "XX000"
}
