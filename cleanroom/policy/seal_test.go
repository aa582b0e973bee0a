package policy

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/google/go-cmp/cmp"
)

func TestSealOpen(t *testing.T) {
	for _, curve := range []ecdh.Curve{ecdh.X25519(), ecdh.P256()} {
		t.Run(curveName(curve), func(t *testing.T) {
			c := testContract(t)
			priv, _ := curve.GenerateKey(rand.Reader)
			rk, err := contract.NewResultKey(priv.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			c.Parties[0].ResultKey = rk
			rel, err := Apply(result(), c, "bank-a")
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := Seal(rel, c)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			got, err := Open(sealed, priv, c)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if d := cmp.Diff(rel, got); d != "" {
				t.Errorf("Open(Seal(rel)) differs (-want +got):\n%s", d)
			}
			other, _ := curve.GenerateKey(rand.Reader)
			if _, err := Open(sealed, other, c); !errors.Is(err, ErrOpen) {
				t.Errorf("Open(wrong key) = %v; want ErrOpen", err)
			}
			c2 := *c
			c2.Revision = 2
			if _, err := Open(sealed, priv, &c2); !errors.Is(err, ErrOpen) {
				t.Errorf("Open(other contract revision) = %v; want ErrOpen", err)
			}
			sealed[len(sealed)-1] ^= 1
			if _, err := Open(sealed, priv, c); !errors.Is(err, ErrOpen) {
				t.Errorf("Open(tampered) = %v; want ErrOpen", err)
			}
		})
	}
}

func curveName(c ecdh.Curve) string {
	if c == ecdh.X25519() {
		return "X25519"
	}
	return "P256"
}
