// Package sqlq analyses the SQL subset the confidential SQL server accepts
// against tables with encrypted columns: it finds the tables a statement
// names, every predicate on a column (comparison, BETWEEN, IN, LIKE, IS
// NULL), ORDER BY and GROUP BY items and INSERT/UPDATE values, with their
// token spans so that the server can rewrite them. The server and the
// enclave run the same analysis, so the enclave can check that an
// operation the server asks for is one the client's query contains.
//
// The analysis is syntactic: it knows nothing of the schema.
package sqlq
