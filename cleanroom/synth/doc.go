// Package synth generates two banks' transaction tables with planted fraud
// and returns the ground truth separately.
//
// The generator is deterministic: the same Config (including Seed) gives
// byte-identical tables. It uses a seeded math/rand/v2 PCG stream for that
// reason; the data is synthetic and nothing here is a secret.
//
// Planted fraud, all labelled in the fraud column:
//
//   - mule accounts (mostly external, some customers) that receive
//     transfers from several customers of BOTH banks within a short window;
//   - layering chains: transfers hopping between the two banks (A→B→A…),
//     each hop shortly after the previous one with a slightly smaller amount;
//   - velocity anomalies: one customer making a burst of payments within an
//     hour.
//
// Each bank's table also carries a unique marker string in some memo fields,
// so tests can check that plaintext never leaves the enclave.
package synth
