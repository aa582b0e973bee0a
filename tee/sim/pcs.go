package sim

import (
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
)

// PCS v4 API paths and headers (Intel SGX and TDX Provisioning
// Certification Service API, version 4).
const (
	PCSPathTCB        = "/sgx/certification/v4/tcb"
	PCSPathQEIdentity = "/sgx/certification/v4/qe/identity"
	PCSPathPCKCRL     = "/sgx/certification/v4/pckcrl"
	PCSPathRootCACRL  = "/sgx/certification/v4/rootcacrl"

	HeaderTCBInfoIssuerChain         = "TCB-Info-Issuer-Chain"
	HeaderEnclaveIdentityIssuerChain = "SGX-Enclave-Identity-Issuer-Chain"
	HeaderPCKCRLIssuerChain          = "SGX-PCK-CRL-Issuer-Chain"
)

// PCSHandler serves the collateral of c in the shape of Intel's PCS v4
// API:
//
//	GET /sgx/certification/v4/tcb?fmspc=HEX        TCB info JSON, header TCB-Info-Issuer-Chain
//	GET /sgx/certification/v4/qe/identity          QE identity JSON, header SGX-Enclave-Identity-Issuer-Chain
//	GET /sgx/certification/v4/pckcrl?ca=processor  PCK CRL (PEM; DER with encoding=der), header SGX-PCK-CRL-Issuer-Chain
//	GET /sgx/certification/v4/rootcacrl            root CA CRL (DER)
//
// Issuer chains are URL-encoded PEM. An unknown FMSPC or CA gives 404 and
// a malformed query 400. The handler serves the collateral as it was when
// PCSHandler was called; make a new one after changing the state.
func PCSHandler(s *State) http.Handler {
	c := s.Collateral()
	fmspc := s.FMSPC()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PCSPathTCB, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("fmspc")
		b, err := hex.DecodeString(q)
		if err != nil || len(b) != 6 {
			http.Error(w, "invalid fmspc", http.StatusBadRequest)
			return
		}
		if [6]byte(b) != fmspc {
			http.NotFound(w, r)
			return
		}
		w.Header().Set(HeaderTCBInfoIssuerChain, url.PathEscape(string(c.TCBInfoIssuerChain)))
		w.Header().Set("Content-Type", "application/json")
		w.Write(c.TCBInfo)
	})
	mux.HandleFunc("GET "+PCSPathQEIdentity, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderEnclaveIdentityIssuerChain, url.PathEscape(string(c.QEIdentityIssuerChain)))
		w.Header().Set("Content-Type", "application/json")
		w.Write(c.QEIdentity)
	})
	mux.HandleFunc("GET "+PCSPathPCKCRL, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch strings.ToLower(q.Get("ca")) {
		case "processor":
		case "platform":
			// The simulated platform's PCK is issued by a Processor CA;
			// there is no Platform CA.
			http.NotFound(w, r)
			return
		default:
			http.Error(w, "invalid ca", http.StatusBadRequest)
			return
		}
		w.Header().Set(HeaderPCKCRLIssuerChain, url.PathEscape(string(c.PCKCRLIssuerChain)))
		switch strings.ToLower(q.Get("encoding")) {
		case "der":
			w.Header().Set("Content-Type", "application/pkix-crl")
			w.Write(c.PCKCRL)
		case "", "pem":
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.PCKCRL}))
		default:
			http.Error(w, "invalid encoding", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET "+PCSPathRootCACRL, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(c.RootCACRL)
	})
	return mux
}
