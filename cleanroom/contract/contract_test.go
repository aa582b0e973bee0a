package contract

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/image"
)

type fixture struct {
	c      *Contract
	keyA   ed25519.PrivateKey
	keyB   *ecdsa.PrivateKey
	signer [32]byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	_, ka, _ := ed25519.GenerateKey(rand.Reader)
	kb, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sa, err := EncodeSigningKey(ka.Public())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := EncodeSigningKey(kb.Public())
	if err != nil {
		t.Fatal(err)
	}
	xa, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xb, _ := ecdh.P256().GenerateKey(rand.Reader)
	ra, _ := NewResultKey(xa.PublicKey())
	rb, _ := NewResultKey(xb.PublicKey())
	signer := sha256.Sum256([]byte("enclave signer"))
	schema := []dataset.Column{{Name: "id", Type: "string"}, {Name: "time", Type: "time"}, {Name: "amount", Type: "int"}}
	c := &Contract{
		Version: 1, ID: "fraud-2026", Revision: 1,
		Parties: []Party{
			{Name: "bank-a", SigningKey: sa, ResultKey: ra, AccountPrefix: "BANKA"},
			{Name: "bank-b", SigningKey: sb, ResultKey: rb, AccountPrefix: "BANKB"},
		},
		Datasets: []Dataset{
			{ID: "bank-a-2026-01", Owner: "bank-a", Schema: schema},
			{ID: "bank-b-2026-01", Owner: "bank-b", Schema: schema, Digest: strings.Repeat("ab", 32)},
		},
		Job: Job{Kind: "fraud", Params: map[string]float64{"window_seconds": 172800, "mule_min_senders": 3}},
		Output: OutputPolicy{
			Recipients:   []Recipient{{Party: "bank-a", Receives: []string{"findings", "aggregates"}}, {Party: "bank-b", Receives: []string{"findings"}}},
			MinGroupSize: 5, Columns: []string{"kind", "account", "score"},
		},
		Enclave: EnclavePolicy{SignerID: hexs(signer[:]), ProductID: 7, MinSecurityVersion: 2},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("fixture Validate: %v", err)
	}
	return &fixture{c: c, keyA: ka, keyB: kb, signer: signer}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, d[x>>4], d[x&15])
	}
	return string(out)
}

func (f *fixture) signAll(t testing.TB) {
	t.Helper()
	if err := f.c.Sign("bank-a", f.keyA); err != nil {
		t.Fatalf("Sign(bank-a): %v", err)
	}
	if err := f.c.Sign("bank-b", f.keyB); err != nil {
		t.Fatalf("Sign(bank-b): %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	t.Run("all signed", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		if err := f.c.Verify(); err != nil {
			t.Errorf("Verify() = %v; want nil", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		f := newFixture(t)
		if err := f.c.Sign("bank-b", f.keyB); err != nil {
			t.Fatal(err)
		}
		err := f.c.Verify()
		var ue *UnsignedError
		if !errors.Is(err, ErrUnsigned) || !errors.As(err, &ue) || len(ue.Parties) != 1 || ue.Parties[0] != "bank-a" {
			t.Errorf("Verify() = %v; want ErrUnsigned naming bank-a", err)
		}
	})
	t.Run("changed after signing", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.c.Output.MinGroupSize = 1
		if err := f.c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify() after changing the output policy = %v; want ErrBadSignature", err)
		}
	})
	t.Run("digest published after signing", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.c.Datasets[0].Digest = strings.Repeat("cd", 32)
		if err := f.c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify() after adding a digest = %v; want ErrBadSignature", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		f := newFixture(t)
		if err := f.c.Sign("bank-a", f.keyB); !errors.Is(err, ErrWrongKey) {
			t.Errorf("Sign(bank-a, bank-b's key) = %v; want ErrWrongKey", err)
		}
	})
	t.Run("unknown party", func(t *testing.T) {
		f := newFixture(t)
		if err := f.c.Sign("bank-c", f.keyA); !errors.Is(err, ErrUnknownParty) {
			t.Errorf("Sign(bank-c) = %v; want ErrUnknownParty", err)
		}
	})
	t.Run("stray signature", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.c.Signatures = append(f.c.Signatures, Signature{Party: "bank-c", Sig: f.c.Signatures[0].Sig})
		if err := f.c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify() with a non-party signature = %v; want ErrBadSignature", err)
		}
	})
	t.Run("duplicate signature", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.c.Signatures = append(f.c.Signatures, f.c.Signatures[0])
		if err := f.c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify() with a repeated signature = %v; want ErrBadSignature", err)
		}
	})
	t.Run("signature swapped between parties", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.c.Signatures[0].Sig, f.c.Signatures[1].Sig = f.c.Signatures[1].Sig, f.c.Signatures[0].Sig
		if err := f.c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify() with swapped signatures = %v; want ErrBadSignature", err)
		}
	})
	t.Run("resign replaces", func(t *testing.T) {
		f := newFixture(t)
		f.signAll(t)
		f.signAll(t)
		if len(f.c.Signatures) != 2 || f.c.Verify() != nil {
			t.Errorf("signing twice left %d signatures; want 2 and a valid contract", len(f.c.Signatures))
		}
	})
}

// TestSignatureFormat checks signatures against the spec independently of
// Verify: Ed25519 over context||hash, ECDSA over SHA-256(context||hash).
func TestSignatureFormat(t *testing.T) {
	f := newFixture(t)
	f.signAll(t)
	canon, err := f.c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(canon)
	if got, _ := f.c.Hash(); got != h {
		t.Fatalf("Hash() = %x; want SHA-256 of Canonical() %x", got, h)
	}
	msg := append([]byte("confide-cleanroom-contract-v1\x00"), h[:]...)
	for _, s := range f.c.Signatures {
		sig, _ := base64.StdEncoding.DecodeString(s.Sig)
		switch s.Party {
		case "bank-a":
			if !ed25519.Verify(f.keyA.Public().(ed25519.PublicKey), msg, sig) {
				t.Errorf("bank-a Ed25519 signature does not verify over context||hash")
			}
		case "bank-b":
			d := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(&f.keyB.PublicKey, d[:], sig) {
				t.Errorf("bank-b ECDSA signature does not verify over SHA-256(context||hash)")
			}
		}
	}
}

func TestCanonical(t *testing.T) {
	f := newFixture(t)
	before, _ := f.c.Hash()
	f.signAll(t)
	after, _ := f.c.Hash()
	if before != after {
		t.Errorf("Hash() changed when signatures were added")
	}
	canon, _ := f.c.Canonical()
	if !bytes.HasPrefix(canon, []byte(`{"version":1,"id":"fraud-2026","revision":1,"parties":[{"name":"bank-a","signing_key":"`)) ||
		!bytes.HasSuffix(canon, []byte(`"signatures":[]}`)) || bytes.ContainsAny(canon, "\n\t") {
		t.Errorf("Canonical() = %s; want compact JSON in field order ending with empty signatures", canon)
	}
	if !bytes.Contains(canon, []byte(`"params":{"mule_min_senders":3,"window_seconds":172800}`)) {
		t.Errorf("Canonical() params not sorted by key: %s", canon)
	}
	// Signing in either order gives the same encoding.
	g := *f.c
	g.Signatures = []Signature{f.c.Signatures[1], f.c.Signatures[0]}
	m1, _ := f.c.Marshal()
	m2, _ := g.Marshal()
	if !bytes.Equal(m1, m2) {
		t.Errorf("Marshal() depends on signature order")
	}
}

func TestParse(t *testing.T) {
	f := newFixture(t)
	f.signAll(t)
	good, err := f.c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(good)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v", err)
	}
	if err := c.Verify(); err != nil {
		t.Errorf("Verify(Parse(Marshal())) = %v", err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"indented", bytes.Replace(good, []byte(`{"version"`), []byte("{ \"version\""), 1), ErrNotCanonical},
		{"trailing", append(bytes.Clone(good), ' '), ErrInvalid},
		{"two objects", append(bytes.Clone(good), "{}"...), ErrInvalid},
		{"unknown field", bytes.Replace(good, []byte(`{"version":1,`), []byte(`{"version":1,"x":1,`), 1), ErrInvalid},
		{"duplicate key", bytes.Replace(good, []byte(`{"version":1,`), []byte(`{"version":1,"version":1,`), 1), ErrNotCanonical},
		{"debug", bytes.Replace(good, []byte(`"debug":false`), []byte(`"debug":true`), 1), ErrDebug},
		{"not json", []byte("nope"), ErrInvalid},
		{"oversized", make([]byte, MaxSize+1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Parse(%s) = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Contract)
		field string
		want  error
	}{
		{"version", func(c *Contract) { c.Version = 2 }, "version", ErrInvalid},
		{"no id", func(c *Contract) { c.ID = "" }, "id", ErrInvalid},
		{"revision", func(c *Contract) { c.Revision = 0 }, "revision", ErrInvalid},
		{"no parties", func(c *Contract) { c.Parties = nil }, "parties", ErrInvalid},
		{"duplicate party", func(c *Contract) { c.Parties[1].Name = "bank-a" }, "parties[1].name", ErrInvalid},
		{"bad signing key", func(c *Contract) { c.Parties[0].SigningKey = "AAAA" }, "parties[0].signing_key", ErrInvalid},
		{"rsa-ish garbage key", func(c *Contract) { c.Parties[0].SigningKey = "!!" }, "parties[0].signing_key", ErrInvalid},
		{"bad result kem", func(c *Contract) { c.Parties[0].ResultKey.KEM = "RSA" }, "parties[0].result_key", ErrInvalid},
		{"short result key", func(c *Contract) { c.Parties[0].ResultKey.Key = "AAAA" }, "parties[0].result_key", ErrInvalid},
		{"duplicate prefix", func(c *Contract) { c.Parties[1].AccountPrefix = "BANKA" }, "parties[1].account_prefix", ErrInvalid},
		{"dash prefix", func(c *Contract) { c.Parties[1].AccountPrefix = "BANK-B" }, "parties[1].account_prefix", ErrInvalid},
		{"dataset owner", func(c *Contract) { c.Datasets[0].Owner = "bank-c" }, "datasets[0].owner", ErrInvalid},
		{"dataset id", func(c *Contract) { c.Datasets[0].ID = "../x" }, "datasets[0].id", ErrInvalid},
		{"duplicate dataset", func(c *Contract) { c.Datasets[1].ID = c.Datasets[0].ID }, "datasets[1].id", ErrInvalid},
		{"column type", func(c *Contract) { c.Datasets[0].Schema = []dataset.Column{{Name: "x", Type: "blob"}} }, "datasets[0].schema[0]", ErrInvalid},
		{"empty schema", func(c *Contract) { c.Datasets[0].Schema = nil }, "datasets[0].schema", ErrInvalid},
		{"digest upper", func(c *Contract) { c.Datasets[1].Digest = strings.Repeat("AB", 32) }, "datasets[1].digest", ErrInvalid},
		{"digest short", func(c *Contract) { c.Datasets[1].Digest = "abcd" }, "datasets[1].digest", ErrInvalid},
		{"job kind", func(c *Contract) { c.Job.Kind = "export" }, "job.kind", ErrInvalid},
		{"min group", func(c *Contract) { c.Output.MinGroupSize = 0 }, "output.min_group_size", ErrInvalid},
		{"recipient", func(c *Contract) { c.Output.Recipients[0].Party = "bank-c" }, "output.recipients[0].party", ErrInvalid},
		{"output kind", func(c *Contract) { c.Output.Recipients[0].Receives = []string{"raw"} }, "output.recipients[0].receives", ErrInvalid},
		{"signer id", func(c *Contract) { c.Enclave.SignerID = "00" }, "enclave.signer_id", ErrInvalid},
		{"debug", func(c *Contract) { c.Enclave.Debug = true }, "enclave.debug", ErrDebug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.edit(f.c)
			err := f.c.Validate()
			var ie *InvalidError
			if !errors.Is(err, tt.want) || !errors.As(err, &ie) || ie.Field != tt.field {
				t.Errorf("Validate(%s) = %v; want %v at %s", tt.name, err, tt.want, tt.field)
			}
			if err := f.c.Sign("bank-a", f.keyA); err == nil {
				t.Errorf("Sign(invalid contract %s) = nil; want an error", tt.name)
			}
		})
	}
}

func TestEnclavePolicy(t *testing.T) {
	f := newFixture(t)
	p := f.c.Enclave
	good := image.Identity{SignerID: f.signer, ProductID: 7, SecurityVersion: 2}
	other := sha256.Sum256([]byte("other signer"))
	tests := []struct {
		name string
		id   image.Identity
		ok   bool
	}{
		{"exact", good, true},
		{"newer svn", image.Identity{SignerID: f.signer, ProductID: 7, SecurityVersion: 9}, true},
		{"old svn", image.Identity{SignerID: f.signer, ProductID: 7, SecurityVersion: 1}, false},
		{"other product", image.Identity{SignerID: f.signer, ProductID: 8, SecurityVersion: 2}, false},
		{"other signer", image.Identity{SignerID: other, ProductID: 7, SecurityVersion: 2}, false},
		{"debug", image.Identity{SignerID: f.signer, ProductID: 7, SecurityVersion: 2, Debug: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Allows(tt.id)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrEnclave)) {
				t.Errorf("Allows(%s) = %v; want ok=%v", tt.name, err, tt.ok)
			}
			cl := &attest.Claims{SignerID: attest.Hex(tt.id.SignerID[:]), ProductID: tt.id.ProductID, SecurityVersion: tt.id.SecurityVersion, Debug: tt.id.Debug}
			if err := p.AllowsClaims(cl); (err == nil) != tt.ok {
				t.Errorf("AllowsClaims(%s) = %v; want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
	t.Run("policy allowing debug", func(t *testing.T) {
		q := p
		q.Debug = true
		if err := q.Allows(good); !errors.Is(err, ErrEnclave) {
			t.Errorf("Allows() under a debug-allowing policy = %v; want ErrEnclave", err)
		}
	})
	t.Run("claims without signer", func(t *testing.T) {
		if err := p.AllowsClaims(&attest.Claims{ProductID: 7, SecurityVersion: 2}); !errors.Is(err, ErrEnclave) {
			t.Errorf("AllowsClaims(no signer) = %v; want ErrEnclave", err)
		}
	})
}

func TestKeys(t *testing.T) {
	if _, err := EncodeSigningKey(&ecdsa.PublicKey{}); err == nil {
		t.Errorf("EncodeSigningKey(empty ECDSA key) = nil error")
	}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := EncodeSigningKey(k384.Public()); err == nil {
		t.Errorf("EncodeSigningKey(P-384) = nil error; want only P-256")
	}
	x, _ := ecdh.P384().GenerateKey(rand.Reader)
	if _, err := NewResultKey(x.PublicKey()); err == nil {
		t.Errorf("NewResultKey(P-384) = nil error")
	}
	var _ crypto.Signer = ed25519.PrivateKey(nil)
}

func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	fx.signAll(f)
	good, _ := fx.c.Marshal()
	f.Add(good)
	unsigned := newFixture(f)
	u, _ := unsigned.c.Marshal()
	f.Add(u)
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse(in)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("Marshal(Parse(in)) != in")
		}
		_ = c.Verify()
	})
}

func TestNew(t *testing.T) {
	f := newFixture(t)
	c, err := New(f.c.ID, f.c.Parties, f.c.Datasets, f.c.Job, f.c.Output, f.c.Enclave)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if c.Version != 1 || c.Revision != 1 || len(c.Signatures) != 0 {
		t.Errorf("New() = version %d revision %d with %d signatures; want 1, 1, 0", c.Version, c.Revision, len(c.Signatures))
	}
	bad := f.c.Enclave
	bad.Debug = true
	if _, err := New(f.c.ID, f.c.Parties, f.c.Datasets, f.c.Job, f.c.Output, bad); !errors.Is(err, ErrDebug) {
		t.Errorf("New(debug enclave) = %v; want ErrDebug", err)
	}
}
