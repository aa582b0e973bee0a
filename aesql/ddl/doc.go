// Package ddl parses the Always Encrypted subset of Transact-SQL data
// definition: CREATE and DROP of column master keys, column encryption keys
// and tables whose columns are ENCRYPTED WITH a column encryption key.
//
// Parse is pure: it reads text and returns statements, doing no
// cryptography and touching no keys. Keywords are case-insensitive;
// identifiers may be quoted as [x] or "x"; errors carry the line and
// column of the offending token. The accepted grammar is written down in
// spec/aesql.md, section "DDL".
package ddl
