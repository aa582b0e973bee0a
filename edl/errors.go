package edl

import (
	"errors"
	"fmt"
)

// ErrSyntax reports EDL text that does not parse.
var ErrSyntax = errors.New("edl: syntax error")

// ErrUnsupported reports a valid EDL construct that cannot work across a
// process boundary or has no Go mapping.
var ErrUnsupported = errors.New("edl: unsupported construct")

// ErrImport reports an import that cannot be resolved or forms a cycle.
var ErrImport = errors.New("edl: import error")

// Pos is a position in an EDL file; Line and Col count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats p as file:line:col.
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is a diagnostic with its position. It wraps ErrSyntax,
// ErrUnsupported or ErrImport.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string
	Kind error
}

// Error formats the diagnostic as file:line:col: message (hint: ...).
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

// Unwrap returns the kind of the error.
func (e *Error) Unwrap() error { return e.Kind }

// Warning is a non-fatal diagnostic, such as a user_check pointer that is
// carried as an opaque handle.
type Warning struct {
	Pos Pos
	Msg string
}

// String formats w as file:line:col: warning: message.
func (w Warning) String() string { return fmt.Sprintf("%s: warning: %s", w.Pos, w.Msg) }

func errAt(kind error, p Pos, hint, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint, Kind: kind}
}
