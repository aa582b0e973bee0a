// Package server is the confidential SQL server: a PostgreSQL wire
// protocol front end (simple and extended query protocol, so psql and
// ordinary drivers connect) over SQLite or PostgreSQL, with SQL Server's
// Always Encrypted model on top.
//
// Column master keys, column encryption keys and tables with encrypted
// columns are created with the T-SQL DDL of aesql/ddl. Encrypted columns
// hold AEAD_AES_256_CBC_HMAC_SHA256 cells (aesql) that the server cannot
// decrypt; clients that do not decrypt see them as bytea. Deterministic
// columns support equality, IN, joins and GROUP BY on the ciphertext.
// Randomized columns whose key's master key allows enclave computations
// support =, <>, <, <=, >, >=, BETWEEN, IN, LIKE, ORDER BY and GROUP BY,
// evaluated by the server's enclave (aesql/sqlenclave) over whole
// columns: the server hands it the column's cells once per change and
// gets back match bitmaps or ranks, which the rewritten SQLite query
// consumes. CREATE INDEX on such a column adds a hidden rank column that
// the enclave keeps ordered like the values, so that comparisons, ORDER
// BY and GROUP BY on it become indexed SQL (revealing the column's order
// to the server, as SQL Server's indexes on enclave-enabled columns do).
// The enclave holds keys only from clients that attested it
// (aesql/driver) and only for queries those clients sealed.
//
// Connections share the enclave's snapshot of each column, except where a
// connection's view of the data differs: inside a transaction that wrote
// the table (or began before the last commit to it) it evaluates on
// snapshots of its own, loaded through its transaction and dropped with
// it; its COMMIT makes the others load the column again. A statement
// outside a transaction that raced a write runs again on a snapshot read
// in the same transaction as its SQL.
//
// Literals compared with or stored into encrypted columns are refused
// with an "operand type clash" error: values must be parameters the
// client encrypted. spec/aesql.md §5 has the protocol.
package server
