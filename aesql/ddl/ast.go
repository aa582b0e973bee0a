package ddl

import (
	"errors"
	"fmt"
)

// Pos is a position in the source: 1-based line and column (in runes).
type Pos struct {
	Line, Col int
}

// String returns "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("ddl: syntax error")

// SyntaxError is a parse error at a position. It wraps ErrSyntax.
type SyntaxError struct {
	Pos Pos
	Msg string // lowercase
}

// Error implements error.
func (e *SyntaxError) Error() string { return fmt.Sprintf("ddl: %s: %s", e.Pos, e.Msg) }

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Statement is one parsed statement: *CreateColumnMasterKey,
// *CreateColumnEncryptionKey, *CreateTable or *Drop.
type Statement interface {
	// Position returns where the statement starts.
	Position() Pos
}

// CreateColumnMasterKey is CREATE COLUMN MASTER KEY.
type CreateColumnMasterKey struct {
	Pos  Pos
	Name string
	// KeyStoreProviderName is KEY_STORE_PROVIDER_NAME.
	KeyStoreProviderName string
	// KeyPath is KEY_PATH.
	KeyPath string
	// EnclaveComputations is set when ENCLAVE_COMPUTATIONS is present;
	// Signature is then its SIGNATURE, the CMK metadata signature.
	EnclaveComputations bool
	Signature           []byte
}

// Position implements Statement.
func (s *CreateColumnMasterKey) Position() Pos { return s.Pos }

// CEKValue is one VALUES entry of CREATE COLUMN ENCRYPTION KEY.
type CEKValue struct {
	// ColumnMasterKey names the CMK that wraps this value.
	ColumnMasterKey string
	// Algorithm is the key encryption algorithm, RSA_OAEP.
	Algorithm string
	// EncryptedValue is the encrypted CEK value (see aesql/keystore).
	EncryptedValue []byte
}

// CreateColumnEncryptionKey is CREATE COLUMN ENCRYPTION KEY. It has one
// value, or two while its CMK is being rotated.
type CreateColumnEncryptionKey struct {
	Pos    Pos
	Name   string
	Values []CEKValue
}

// Position implements Statement.
func (s *CreateColumnEncryptionKey) Position() Pos { return s.Pos }

// ObjectKind is the kind of object a DROP removes.
type ObjectKind int

// Object kinds.
const (
	ColumnMasterKey ObjectKind = iota + 1
	ColumnEncryptionKey
	Table
)

// String returns the T-SQL spelling.
func (k ObjectKind) String() string {
	switch k {
	case ColumnMasterKey:
		return "COLUMN MASTER KEY"
	case ColumnEncryptionKey:
		return "COLUMN ENCRYPTION KEY"
	case Table:
		return "TABLE"
	}
	return fmt.Sprintf("ObjectKind(%d)", int(k))
}

// Drop is DROP COLUMN MASTER KEY, DROP COLUMN ENCRYPTION KEY or DROP TABLE.
type Drop struct {
	Pos    Pos
	Kind   ObjectKind
	Schema string // tables only; empty when not given
	Name   string
}

// Position implements Statement.
func (s *Drop) Position() Pos { return s.Pos }

// CreateTable is CREATE TABLE with column definitions.
type CreateTable struct {
	Pos     Pos
	Schema  string // empty when not given
	Name    string
	Columns []Column
}

// Position implements Statement.
func (s *CreateTable) Position() Pos { return s.Pos }

// EncryptionType is DETERMINISTIC or RANDOMIZED.
type EncryptionType int

// Encryption types.
const (
	Deterministic EncryptionType = iota + 1
	Randomized
)

// String returns the T-SQL spelling.
func (t EncryptionType) String() string {
	switch t {
	case Deterministic:
		return "DETERMINISTIC"
	case Randomized:
		return "RANDOMIZED"
	}
	return fmt.Sprintf("EncryptionType(%d)", int(t))
}

// Encryption is a column's ENCRYPTED WITH clause.
type Encryption struct {
	ColumnEncryptionKey string
	Type                EncryptionType
	Algorithm           string
}

// DataType is a column's type as written: a name (lowercased) and its
// arguments.
type DataType struct {
	Name string // lowercase, such as "nvarchar"
	// Args holds the numeric arguments: length, or precision and scale.
	Args []int
	// Max is set for (max).
	Max bool
}

// Column is a column definition.
type Column struct {
	Pos        Pos
	Name       string
	Type       DataType
	Collation  string      // empty when no COLLATE clause
	Encryption *Encryption // nil for plaintext columns
	// NotNull is set by NOT NULL; Null by an explicit NULL.
	NotNull, Null bool
}
