// Package cleanroom runs multi-party analytics over data that its owners
// never reveal to each other: two banks pool their transaction tables inside
// an enclave to find fraud that neither can see alone.
//
// The pieces live in sub-packages:
//
//   - contract: the agreement every party signs (parties, datasets, job,
//     output policy, allowed enclave);
//   - governance: the append-only, hash-chained log of proposals and
//     signatures;
//   - dataset: streaming AES-256-GCM encryption of a party's table and
//     publication to untrusted storage;
//   - ledger: the transaction table format the jobs read;
//   - synth: synthetic bank data with planted fraud and ground truth;
//   - fraud: the fraud-detection job (in-memory SQLite plus Go), the output
//     policy and scoring against ground truth;
//   - train: a fraud classifier trained on pooled labelled transactions.
//
// This package holds the end-to-end pipeline used by the demo and its
// benchmarks. The formats are specified in spec/cleanroom.md.
package cleanroom
