// Package tdx parses and verifies Intel TDX DCAP quotes (version 4 with a
// TD report 1.0, version 5 with a TD report 1.0 or 1.5) and turns them into
// attest.Claims with the TD's measurements in Claims.TDX.
//
// Verification is the SGX one (see attest/sgx and spec/evidence.md) with
// the TDX collateral: TCB info "TDX" (TEE TCB SVN components and the TDX
// module identities) and the TD quoting enclave's identity "TD_QE". For a TD
// report 1.5 the TD relaunch rule applies: a TD launched under an
// out-of-date TDX module that now runs an up-to-date one gets the status
// TDRelaunchAdvised.
package tdx
