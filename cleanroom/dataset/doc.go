// Package dataset encrypts a party's table as a stream of fixed-size
// AES-256-GCM chunks and publishes the ciphertext to untrusted storage.
//
// A stream is a header (magic, version, chunk size, salt, nonce prefix and
// the dataset metadata) followed by chunks. Each chunk is sealed under a key
// derived from the data key and the salt, with a nonce made of the random
// prefix and the chunk index, and with additional data binding the header
// hash, the chunk index and a final-chunk flag, so truncation, reordering,
// extension and header tampering are all detected. See spec/cleanroom.md.
package dataset
