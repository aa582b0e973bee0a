package sgx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/internal/vectors"
)

// relayout rewrites a v3 SGX quote in the v4 layout (QE report
// certification data, type 6, around the QE report and the PCK chain) or
// the v5 layout (v4 plus a body descriptor, type 1, 384 bytes). No
// signature covers the version, so the result parses like the original
// and fails the quote signature.
func relayout(t *testing.T, v3 []byte, version uint16) []byte {
	t.Helper()
	const sd = 48 + 384
	sigData := v3[sd+4:]
	sigAndKey, qeCert := sigData[:128], sigData[128:]
	var out []byte
	out = append(out, v3[:48]...)
	binary.LittleEndian.PutUint16(out, version)
	if version == 5 {
		out = binary.LittleEndian.AppendUint16(out, 1)
		out = binary.LittleEndian.AppendUint32(out, 384)
	}
	out = append(out, v3[48:sd]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(128+6+len(qeCert)))
	out = append(out, sigAndKey...)
	out = binary.LittleEndian.AppendUint16(out, 6)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(qeCert)))
	return append(out, qeCert...)
}

func TestQuoteLayouts(t *testing.T) {
	v3 := vectors.Read(t, "sgx/dcap-qvl-sgx-quote.bin")
	want, err := sgx.ParseQuote(v3)
	if err != nil {
		t.Fatal(err)
	}
	opts := sgx.Options{Now: at("2025-07-01T00:00:00Z"), Getter: collateral(t, "sgx/dcap-qvl-sgx-collateral.json")}
	for _, version := range []uint16{4, 5} {
		b := relayout(t, v3, version)
		q, err := sgx.ParseQuote(b)
		if err != nil {
			t.Fatalf("v%d: ParseQuote = %v", version, err)
		}
		if q.Version != version || q.Report != want.Report || q.QESVN != want.QESVN || q.PCESVN != want.PCESVN {
			t.Errorf("v%d: parsed %+v; want the v3 quote's fields", version, q)
		}
		// The PCK chain, QE report and its binding still verify; the
		// quote signature (which covers the version) does not.
		if _, err := q.Verify(context.Background(), opts); !errors.Is(err, attest.ErrSignature) {
			t.Errorf("v%d: Verify = %v; want ErrSignature", version, err)
		}
		// Inconsistent framing is malformed.
		bad := bytes.Clone(b)
		if version == 4 {
			binary.LittleEndian.PutUint16(bad[48+384+4+128:], 5) // outer certification data type 6 -> 5
		} else {
			binary.LittleEndian.PutUint16(bad[48:], 2) // body type 1 -> 2 (TD report 1.0) with size 384
		}
		if _, err := sgx.ParseQuote(bad); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("v%d: ParseQuote(inconsistent framing) = %v; want ErrMalformed", version, err)
		}
	}
}
