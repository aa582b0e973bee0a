// Package servertest starts a confidential SQL server with a real enclave
// for tests: the test binary must serve the built-in enclaves when started
// as one (call Main from TestMain).
package servertest
