// Package ledger defines the transaction table a clean-room party
// contributes, and its CSV encoding.
//
// A table is RFC 4180 CSV with the header line
//
//	id,time,from,to,amount,currency,channel,memo,fraud
//
// where time is Unix seconds, amount is an integer number of minor units
// (cents), and fraud is 0 or 1 (the owner's own fraud label). Account IDs
// carry their bank's prefix (for example "BANKA-000123"), the way IBANs carry
// a bank code, so every party can tell its own accounts from others'.
package ledger
