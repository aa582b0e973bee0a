// Package demo is the clean-room demonstration behind "confide demo": two
// banks with synthetic transaction tables (planted mule accounts, layering
// chains and velocity bursts, the truth kept aside), an attestation service
// and key broker in process, a contract both banks sign in a governance
// log, the clean-room enclave (package room) on the simulated platform, each
// bank opening its verified result, precision and recall against the
// planted truth, stage times, the enclave-versus-plaintext throughput, and
// the negative checks: everything that must be refused, attempted.
package demo
