package server

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/confide-dev/confide/aesql/ddl"
	"github.com/confide-dev/confide/internal/placeholders"
)

// dialect is what differs between the SQLite and PostgreSQL storage.
type dialect struct {
	postgres bool
}

// q turns the server's own statements, written with ? placeholders, into
// the dialect's.
func (d dialect) q(sql string) string {
	if !d.postgres {
		return sql
	}
	return placeholders.Dollar(sql)
}

func (d dialect) catalogDDL() string {
	if !d.postgres {
		return catalogDDL
	}
	return strings.NewReplacer(" COLLATE NOCASE", "", "BLOB", "BYTEA").Replace(catalogDDL)
}

// ident quotes a table or column name the server creates. PostgreSQL
// folds unquoted names to lower case, so tables and columns are created
// in lower case there and unquoted T-SQL names keep working.
func (d dialect) ident(name string) string {
	if d.postgres {
		name = strings.ToLower(name)
	}
	return quoteIdent(name)
}

// columnType maps a declared T-SQL type to the storage type.
func (d dialect) columnType(c *ddl.Column) string {
	t := sqliteType(c)
	if !d.postgres {
		return t
	}
	switch t {
	case "INTEGER":
		return "BIGINT"
	case "REAL":
		return "DOUBLE PRECISION"
	case "BLOB":
		return "BYTEA"
	}
	return t
}

// rowID is the row identifier column: SQLite's rowid, or in PostgreSQL
// a hidden identity column the server adds to the tables it creates
// (tuple IDs move when a row is updated).
func (d dialect) rowID() string {
	if d.postgres {
		return pgRowID
	}
	return "rowid"
}

const pgRowID = "aesql_rowid"

// loadQuery selects the row ID and a column's cells in row order.
func (d dialect) loadQuery(table, col string) string {
	return fmt.Sprintf("SELECT %s, %s FROM %s ORDER BY %s", d.rowID(), d.ident(col), d.ident(table), d.rowID())
}

// loadRankedQuery selects the row ID, a column's cells and their stored
// ranks in row order.
func (d dialect) loadRankedQuery(table, col, rank string) string {
	return fmt.Sprintf("SELECT %s, %s, %s FROM %s ORDER BY %s", d.rowID(), d.ident(col), d.ident(rank), d.ident(table), d.rowID())
}

// intArray renders row IDs as a PostgreSQL array literal.
func intArray(ids []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte('}')
	return b.String()
}
