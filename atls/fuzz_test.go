package atls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509/pkix"
	"errors"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

// fuzzSeeds returns real evidence: the extensions of a certificate made
// on the simulated platform, and connection evidence.
func fuzzSeeds(f *testing.F) (dice, oe []byte, conn []byte) {
	e := newEnv(f)
	id := e.identity(f, e.a, true)
	dice = extValue(f, id.cert.Leaf, OIDTaggedEvidence)
	oe = extValue(f, id.cert.Leaf, OIDOpenEnclaveEvidence)
	conn, err := makeEvidence(e.a, id.spki, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	return dice, oe, conn
}

func FuzzParseEvidence(f *testing.F) {
	dice, _, conn := fuzzSeeds(f)
	f.Add(dice)
	f.Add(conn)
	f.Add(marshalEvidence([]byte("q"), marshalClaims([]byte("k"), nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvidence(b)
		if err != nil {
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("ParseEvidence error %v is not ErrMalformed", err)
			}
			return
		}
		// Whatever parses re-encodes to evidence that parses the same.
		again, err := ParseEvidence(marshalEvidence(ev.Quote, ev.Claims))
		if err != nil {
			t.Fatalf("re-encoded evidence: %v", err)
		}
		if !bytes.Equal(again.Quote, ev.Quote) || !bytes.Equal(again.PubKeyHash, ev.PubKeyHash) ||
			!bytes.Equal(again.Nonce, ev.Nonce) || again.PubKeyHashAlg != ev.PubKeyHashAlg {
			t.Fatalf("re-encoded evidence parses to %+v; want %+v", again, ev)
		}
		// The key check never panics and refuses a key that does not match.
		if err := ev.checkKey([]byte("certainly not the key")); err != nil && !errors.Is(err, ErrKeyBinding) {
			t.Fatalf("checkKey = %v", err)
		}
	})
}

func FuzzParseOpenEnclaveEvidence(f *testing.F) {
	_, oe, _ := fuzzSeeds(f)
	f.Add(oe)
	if _, ok := vectors.Find(); ok {
		raw := vectors.Read(f, "sgx/dcap-qvl-sgx-quote.bin")
		if q, err := sgx.ParseQuote(raw); err == nil {
			f.Add(marshalOpenEnclave(raw[:len(raw)-q.Padding], oeClaims([]byte("key"))))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseOpenEnclaveEvidence(b)
		if err != nil {
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("ParseOpenEnclaveEvidence error %v is not ErrMalformed", err)
			}
			return
		}
		if len(ev.Quote)+len(ev.Claims)+oeHeaderSize != len(b) {
			t.Fatalf("quote %d + claims %d + header != %d bytes", len(ev.Quote), len(ev.Claims), len(b))
		}
		if err := ev.checkKey([]byte("certainly not the key")); err != nil && !errors.Is(err, ErrKeyBinding) {
			t.Fatalf("checkKey = %v", err)
		}
	})
}

// FuzzVerifyCertificate puts fuzzed extension values, seeded with the
// extensions of a real certificate made on the simulated platform, into a
// certificate for the seed's key and checks them with the real verifier.
// Whatever is accepted must be evidence that binds the key and comes from
// the accepted enclave; whatever is refused must be refused with an error
// of a known class.
func FuzzVerifyCertificate(f *testing.F) {
	e := newEnv(f)
	id := e.identity(f, e.a, true)
	dice := extValue(f, id.cert.Leaf, OIDTaggedEvidence)
	oe := extValue(f, id.cert.Leaf, OIDOpenEnclaveEvidence)
	key := id.cert.PrivateKey.(*ecdsa.PrivateKey)
	f.Add(dice, oe)
	f.Add(dice, []byte(nil))
	f.Add([]byte(nil), oe)
	classes := []error{attest.ErrMalformed, ErrKeyBinding, ErrNoEvidence, attest.ErrSignature, attest.ErrChain,
		attest.ErrRevoked, attest.ErrCollateral, attest.ErrTCBLevel, attest.ErrPolicy}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, d, o []byte) {
		var exts []pkix.Extension
		if d != nil {
			exts = append(exts, pkix.Extension{Id: OIDTaggedEvidence, Value: d})
		}
		if o != nil {
			exts = append(exts, pkix.Extension{Id: OIDOpenEnclaveEvidence, Value: o})
		}
		_, leaf := certFor(t, key, exts)
		claims, err := e.client.VerifyCertificate(ctx, leaf)
		if err != nil {
			for _, c := range classes {
				if errors.Is(err, c) {
					return
				}
			}
			t.Fatalf("VerifyCertificate error of no known class: %v", err)
		}
		if !bytes.Equal(claims.UniqueID, e.idA.UniqueID[:]) {
			t.Fatalf("accepted claims of enclave %x", []byte(claims.UniqueID))
		}
		rd := claims.ReportData
		if d != nil {
			ev, err := ParseEvidence(d)
			if err != nil {
				t.Fatalf("accepted unparsable DICE evidence: %v", err)
			}
			if want := reportData(ev.Claims); !bytes.Equal(rd, want[:]) || ev.checkKey(id.spki) != nil {
				t.Fatalf("accepted DICE evidence that does not bind the key")
			}
			return
		}
		ev, err := ParseOpenEnclaveEvidence(o)
		if err != nil {
			t.Fatalf("accepted unparsable Open Enclave evidence: %v", err)
		}
		if want := reportData(ev.Claims); !bytes.Equal(rd, want[:]) || ev.checkKey(id.spki) != nil {
			t.Fatalf("accepted Open Enclave evidence that does not bind the key")
		}
	})
}
