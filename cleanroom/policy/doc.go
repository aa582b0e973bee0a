// Package policy enforces a clean-room contract's output policy on a job
// result before anything leaves the enclave.
//
// Apply builds one party's release from a fraud.Result:
//
//   - the party must be a recipient in the contract;
//   - findings are filtered to accounts the party may see: its own, other
//     parties' only if ShareCounterparty, accounts at no party only if
//     ShareExternal; then projected onto the allowed columns;
//   - aggregates must each describe a group of at least MinGroupSize, or
//     the whole release is REFUSED;
//   - raw transaction rows that involve none of the party's accounts are
//     REFUSED (another bank's raw data never leaves); rows of the party's
//     own are not refused but are not released either: a release carries
//     findings and aggregates only.
//
// A refusal is an *Error matching ErrOutputPolicy; nothing is released.
package policy
