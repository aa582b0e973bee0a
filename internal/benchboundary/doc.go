// Package benchboundary measures the cost of crossing the host/enclave
// boundary, for "confide bench boundary".
//
// Run measures, one row at a time, the round-trip time (p50, p99 from a
// bounded-memory Histogram) and the call rate of: a plain in-process
// function call (the floor), a raw request/response over a socket pair
// with a second process (the floor for a process boundary; the peer is
// served by ServePeer), a regular and a switchless ecall, and a regular
// and a switchless ocall (timed inside the enclave) — for each payload
// size and number of concurrent callers. The enclave is the built-in
// bench enclave (internal/builtin.ProductBench), by default the running
// executable signed with builtin.SignSelf.
//
// Each row is bounded in time (Options.Duration, after a warm-up) and in
// count (Options.MaxCalls). Results on a shared machine are noisy: the
// report records the machine and its load average.
package benchboundary
