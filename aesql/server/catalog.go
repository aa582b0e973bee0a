package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/ddl"
)

// The catalog lives in the database beside the data.
const catalogDDL = `
CREATE TABLE IF NOT EXISTS aesql_cmk (name TEXT PRIMARY KEY COLLATE NOCASE, provider TEXT NOT NULL,
	key_path TEXT NOT NULL, enclave INTEGER NOT NULL, signature BLOB);
CREATE TABLE IF NOT EXISTS aesql_cek (name TEXT NOT NULL COLLATE NOCASE, cmk TEXT NOT NULL COLLATE NOCASE,
	algorithm TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (name, cmk));
CREATE TABLE IF NOT EXISTS aesql_table (name TEXT PRIMARY KEY COLLATE NOCASE, columns TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aesql_index (name TEXT PRIMARY KEY COLLATE NOCASE, tbl TEXT NOT NULL COLLATE NOCASE,
	columns TEXT NOT NULL);
`

type cmkInfo struct {
	Name, Provider, KeyPath string
	Enclave                 bool
	Signature               []byte
}

type cekValue struct {
	CMK       string
	Algorithm string
	Value     []byte
}

type cekInfo struct {
	Name   string
	Values []cekValue
}

// colInfo is a column of a table created through the server.
type colInfo struct {
	Name    string
	Ordinal int // 1-based
	Def     ddl.Column
	Type    aesql.Type // for encrypted columns
	// Ranked is set for a randomized column that an index names: it has
	// a hidden rank column (rankColumn).
	Ranked bool
}

func (c *colInfo) encrypted() bool { return c.Def.Encryption != nil }

type tableInfo struct {
	Name string
	Cols []*colInfo
}

func (t *tableInfo) col(name string) *colInfo {
	for _, c := range t.Cols {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// catalog is the in-memory copy of the key and table metadata.
type catalog struct {
	cmks    map[string]*cmkInfo
	ceks    map[string]*cekInfo
	tables  map[string]*tableInfo
	indexes map[string]*indexInfo
}

func key(name string) string { return strings.ToLower(name) }

func loadCatalog(ctx context.Context, db *sql.DB, d dialect) (*catalog, error) {
	c := &catalog{cmks: map[string]*cmkInfo{}, ceks: map[string]*cekInfo{}, tables: map[string]*tableInfo{}, indexes: map[string]*indexInfo{}}
	rows, err := db.QueryContext(ctx, `SELECT name, provider, key_path, enclave, signature FROM aesql_cmk`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		m := &cmkInfo{}
		if err := rows.Scan(&m.Name, &m.Provider, &m.KeyPath, &m.Enclave, &m.Signature); err != nil {
			rows.Close()
			return nil, err
		}
		c.cmks[key(m.Name)] = m
	}
	rows.Close()
	order := "rowid"
	if d.postgres {
		order = "ctid"
	}
	rows, err = db.QueryContext(ctx, `SELECT name, cmk, algorithm, value FROM aesql_cek ORDER BY `+order)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var v cekValue
		if err := rows.Scan(&name, &v.CMK, &v.Algorithm, &v.Value); err != nil {
			rows.Close()
			return nil, err
		}
		k := c.ceks[key(name)]
		if k == nil {
			k = &cekInfo{Name: name}
			c.ceks[key(name)] = k
		}
		k.Values = append(k.Values, v)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT name, columns FROM aesql_table`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, cols string
		if err := rows.Scan(&name, &cols); err != nil {
			return nil, err
		}
		var defs []ddl.Column
		if err := json.Unmarshal([]byte(cols), &defs); err != nil {
			return nil, fmt.Errorf("server: catalog entry for table %q: %w", name, err)
		}
		t, err := newTableInfo(name, defs)
		if err != nil {
			return nil, err
		}
		c.tables[key(name)] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT name, tbl, columns FROM aesql_index`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		ix := &indexInfo{}
		var cols string
		if err := rows.Scan(&ix.Name, &ix.Table, &cols); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(cols), &ix.Columns); err != nil {
			return nil, fmt.Errorf("server: catalog entry for index %q: %w", ix.Name, err)
		}
		c.indexes[key(ix.Name)] = ix
	}
	for _, t := range c.tables {
		c.markRanked(t)
	}
	return c, rows.Err()
}

func newTableInfo(name string, defs []ddl.Column) (*tableInfo, error) {
	t := &tableInfo{Name: name}
	for i, d := range defs {
		ci := &colInfo{Name: d.Name, Ordinal: i + 1, Def: d}
		if d.Encryption != nil {
			vt, err := d.ValueType()
			if err != nil {
				return nil, errf(ErrUnsupported, "%v", err)
			}
			ci.Type = vt
		}
		t.Cols = append(t.Cols, ci)
	}
	return t, nil
}

// sqliteType maps a declared T-SQL type to the SQLite column type.
func sqliteType(c *ddl.Column) string {
	if c.Encryption != nil {
		return "BLOB"
	}
	switch c.Type.Name {
	case "bit", "tinyint", "smallint", "int", "integer", "bigint":
		return "INTEGER"
	case "real", "float":
		return "REAL"
	case "decimal", "numeric", "money", "smallmoney":
		return "NUMERIC"
	case "binary", "varbinary", "image":
		return "BLOB"
	}
	return "TEXT"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ddl applies parsed DDL statements in one transaction and returns the
// command tag of the last.
func (s *Server) applyDDL(ctx context.Context, conn *sql.Conn, stmts []ddl.Statement) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	tag := ""
	var after []func()
	for _, st := range stmts {
		switch st := st.(type) {
		case *ddl.CreateColumnMasterKey:
			if s.cat.cmks[key(st.Name)] != nil {
				return "", errf(ErrSyntax, "column master key %q already exists", st.Name)
			}
			m := &cmkInfo{Name: st.Name, Provider: st.KeyStoreProviderName, KeyPath: st.KeyPath, Enclave: st.EnclaveComputations, Signature: st.Signature}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO aesql_cmk VALUES (?, ?, ?, ?, ?)`), m.Name, m.Provider, m.KeyPath, b2i(m.Enclave), m.Signature); err != nil {
				return "", err
			}
			after = append(after, func() { s.cat.cmks[key(m.Name)] = m })
			tag = "CREATE COLUMN MASTER KEY"
		case *ddl.CreateColumnEncryptionKey:
			if s.cat.ceks[key(st.Name)] != nil {
				return "", errf(ErrSyntax, "column encryption key %q already exists", st.Name)
			}
			k := &cekInfo{Name: st.Name}
			for _, v := range st.Values {
				if s.cat.cmks[key(v.ColumnMasterKey)] == nil {
					return "", errf(ErrUndefined, "column master key %q does not exist", v.ColumnMasterKey)
				}
				if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO aesql_cek VALUES (?, ?, ?, ?)`), st.Name, v.ColumnMasterKey, v.Algorithm, v.EncryptedValue); err != nil {
					return "", err
				}
				k.Values = append(k.Values, cekValue{CMK: v.ColumnMasterKey, Algorithm: v.Algorithm, Value: v.EncryptedValue})
			}
			after = append(after, func() { s.cat.ceks[key(k.Name)] = k })
			tag = "CREATE COLUMN ENCRYPTION KEY"
		case *ddl.CreateTable:
			if s.cat.tables[key(st.Name)] != nil {
				return "", errf(ErrSyntax, "table %q already exists", st.Name)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "CREATE TABLE %s (", s.d.ident(st.Name))
			for i, c := range st.Columns {
				if c.Encryption != nil {
					if s.cat.ceks[key(c.Encryption.ColumnEncryptionKey)] == nil {
						return "", errf(ErrUndefined, "column encryption key %q does not exist", c.Encryption.ColumnEncryptionKey)
					}
				}
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %s", s.d.ident(c.Name), s.d.columnType(&c))
				if c.NotNull {
					b.WriteString(" NOT NULL")
				}
			}
			if s.d.postgres {
				fmt.Fprintf(&b, ", %s BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE", pgRowID)
			}
			b.WriteString(")")
			t, err := newTableInfo(st.Name, st.Columns)
			if err != nil {
				return "", err
			}
			defs, _ := json.Marshal(st.Columns)
			if _, err := tx.ExecContext(ctx, b.String()); err != nil {
				return "", errf(ErrSyntax, "%v", err)
			}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO aesql_table VALUES (?, ?)`), st.Name, string(defs)); err != nil {
				return "", err
			}
			after = append(after, func() { s.cat.tables[key(t.Name)] = t })
			tag = "CREATE TABLE"
		case *ddl.Drop:
			switch st.Kind {
			case ddl.ColumnMasterKey:
				if s.cat.cmks[key(st.Name)] == nil {
					return "", errf(ErrUndefined, "column master key %q does not exist", st.Name)
				}
				for _, k := range s.cat.ceks {
					for _, v := range k.Values {
						if strings.EqualFold(v.CMK, st.Name) {
							return "", errf(ErrUnsupported, "column master key %q still protects column encryption key %q", st.Name, k.Name)
						}
					}
				}
				if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM aesql_cmk WHERE name = ?`), s.cat.cmks[key(st.Name)].Name); err != nil {
					return "", err
				}
				name := st.Name
				after = append(after, func() { delete(s.cat.cmks, key(name)) })
			case ddl.ColumnEncryptionKey:
				if s.cat.ceks[key(st.Name)] == nil {
					return "", errf(ErrUndefined, "column encryption key %q does not exist", st.Name)
				}
				for _, t := range s.cat.tables {
					for _, c := range t.Cols {
						if c.encrypted() && strings.EqualFold(c.Def.Encryption.ColumnEncryptionKey, st.Name) {
							return "", errf(ErrUnsupported, "column encryption key %q still encrypts %s.%s", st.Name, t.Name, c.Name)
						}
					}
				}
				if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM aesql_cek WHERE name = ?`), s.cat.ceks[key(st.Name)].Name); err != nil {
					return "", err
				}
				name := st.Name
				after = append(after, func() { delete(s.cat.ceks, key(name)) })
			case ddl.Table:
				name := st.Name
				if t := s.cat.tables[key(st.Name)]; t != nil {
					name = t.Name
				}
				if _, err := tx.ExecContext(ctx, "DROP TABLE "+s.d.ident(name)); err != nil {
					return "", errf(ErrUndefined, "%v", err)
				}
				if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM aesql_table WHERE name = ?`), name); err != nil {
					return "", err
				}
				if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM aesql_index WHERE tbl = ?`), name); err != nil {
					return "", err
				}
				after = append(after, func() {
					delete(s.cat.tables, key(name))
					for k, ix := range s.cat.indexes {
						if strings.EqualFold(ix.Table, name) {
							delete(s.cat.indexes, k)
						}
					}
					s.bump(name)
				})
			}
			tag = "DROP " + st.Kind.String()
		default:
			return "", errf(ErrUnsupported, "statement %T", st)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", err
	}
	for _, f := range after {
		f()
	}
	return tag, nil
}
