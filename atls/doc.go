// Package atls is attested TLS: a server proves, inside the TLS handshake
// and again for each connection, that its key lives in an enclave that a
// client's policy accepts.
//
// The server makes a fresh ECDSA P-256 key and a self-signed certificate
// whose extension carries evidence for it (NewIdentity):
//
//   - the TCG DICE tagged-evidence extension (OID 2.23.133.5.4.9) holding
//     CBOR tag 60000 over [quote, claims], where the claims map names the
//     hash of the certificate's SubjectPublicKeyInfo and the quote's report
//     data is SHA-256(claims) followed by 32 zero bytes, as Gramine and the
//     CCC interoperable RA-TLS proposal do;
//   - optionally, Open Enclave's evidence extension (OID
//     1.3.6.1.4.1.311.105.2) for Open Enclave peers.
//
// A recorded certificate proves nothing about a later connection, so after
// the handshake the server sends evidence whose claims also carry the
// connection's TLS exporter value (label ExporterLabel) as nonce, and the
// client refuses evidence made for another connection with ErrReplay.
//
//	id, err := atls.NewIdentity(ctx, atls.Server{Attester: platform})
//	ln := id.Listen(tcpListener)
//
//	conn, claims, err := atls.Dial(ctx, "tcp", addr, atls.Client{
//		Verifier: atls.SGX(sgx.Options{Getter: getter, Cache: sgx.NewCache(0)}),
//		Appraise: policy.Check,
//	})
//
// Attestation can be mutual: a server given Server.ClientAuth asks for a
// client certificate and checks its evidence, and a client given
// Client.Identity presents one and then sends its own connection evidence
// (exporter label ClientExporterLabel).
//
// ServerConfig and ClientConfig give plain tls.Config values that check the
// certificate evidence only, on every connection including resumed ones,
// for peers that do not speak the connection evidence step. spec/atls.md is
// the format and protocol.
package atls
