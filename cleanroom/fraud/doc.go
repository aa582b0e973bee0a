// Package fraud is the clean-room fraud-detection job: it loads the banks'
// decrypted transaction tables into an in-memory SQLite database (no files,
// so it runs where the sandbox forbids opening any) and finds
//
//   - mule accounts: accounts receiving transfers from at least k distinct
//     customers of EACH bank within a time window;
//   - layering chains: runs of transfers that hop between banks, each hop
//     soon after the previous one with a slightly smaller amount;
//   - velocity anomalies: accounts making too many payments within a window.
//
// Each finding names one account with a score. Score compares findings with
// planted ground truth (precision and recall). What leaves the enclave is
// decided by package policy.
package fraud
