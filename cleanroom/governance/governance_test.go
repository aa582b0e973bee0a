package governance

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide-dev/confide/cleanroom/contract"
	"github.com/confide-dev/confide/cleanroom/dataset"
	"github.com/confide-dev/confide/internal/hashchain"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type parties struct {
	c    *contract.Contract
	keys map[string]ed25519.PrivateKey
}

func newContract(t testing.TB, rev int) *parties {
	t.Helper()
	p := &parties{keys: map[string]ed25519.PrivateKey{}}
	c := &contract.Contract{Version: 1, ID: "fraud", Revision: rev,
		Job:     contract.Job{Kind: "fraud"},
		Output:  contract.OutputPolicy{MinGroupSize: 3},
		Enclave: contract.EnclavePolicy{SignerID: strings.Repeat("11", 32), ProductID: 1},
	}
	for _, name := range []string{"bank-a", "bank-b"} {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		p.keys[name] = k
		sk, _ := contract.EncodeSigningKey(k.Public())
		x, _ := ecdh.X25519().GenerateKey(rand.Reader)
		rk, _ := contract.NewResultKey(x.PublicKey())
		c.Parties = append(c.Parties, contract.Party{Name: name, SigningKey: sk, ResultKey: rk, AccountPrefix: strings.ToUpper(strings.ReplaceAll(name, "-", ""))})
		c.Datasets = append(c.Datasets, contract.Dataset{ID: name + "-data", Owner: name, Schema: []dataset.Column{{Name: "id", Type: "string"}}})
	}
	p.c = c
	return p
}

// sign returns party's signature over the contract without keeping it on c.
func (p *parties) sign(t testing.TB, party string) contract.Signature {
	t.Helper()
	cp := *p.c
	cp.Signatures = nil
	if err := cp.Sign(party, p.keys[party]); err != nil {
		t.Fatal(err)
	}
	return cp.Signatures[0]
}

func openLog(t testing.TB, path string) *Log {
	t.Helper()
	l, err := Open(path, Options{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// build writes a log with a proposal and both signatures and returns its path.
func build(t testing.TB) (string, *parties) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "governance.log")
	l := openLog(t, path)
	p := newContract(t, 1)
	if _, err := l.Propose(p.c); err != nil {
		t.Fatalf("Propose: %v", err)
	}
	h, _ := p.c.Hash()
	for _, name := range []string{"bank-a", "bank-b"} {
		if _, err := l.AppendSignature(p.c.ID, h, p.sign(t, name)); err != nil {
			t.Fatalf("AppendSignature(%s): %v", name, err)
		}
	}
	return path, p
}

func TestLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "governance.log")
	l := openLog(t, path)
	p := newContract(t, 1)
	if _, err := l.Active("fraud"); !errors.Is(err, ErrNotActive) {
		t.Errorf("Active(empty log) = %v; want ErrNotActive", err)
	}
	rec, err := l.Propose(p.c)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 {
		t.Errorf("Propose().Seq = %d; want 1", rec.Seq)
	}
	h, _ := p.c.Hash()
	if _, err := l.AppendSignature("fraud", h, p.sign(t, "bank-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Active("fraud"); !errors.Is(err, ErrNotActive) {
		t.Errorf("Active(one of two signed) = %v; want ErrNotActive", err)
	}
	if _, err := l.AppendSignature("fraud", h, p.sign(t, "bank-b")); err != nil {
		t.Fatal(err)
	}
	c, err := l.Active("fraud")
	if err != nil {
		t.Fatalf("Active() = %v", err)
	}
	if err := c.Verify(); err != nil || c.Revision != 1 {
		t.Errorf("Active() revision %d, Verify() = %v; want revision 1, nil", c.Revision, err)
	}
	// A second revision that only one party signed does not replace it.
	p2 := newContract(t, 2)
	p2.c.Parties = c.Parties
	p2.keys = p.keys
	if _, err := l.Propose(p2.c); err != nil {
		t.Fatal(err)
	}
	h2, _ := p2.c.Hash()
	if _, err := l.AppendSignature("fraud", h2, p2.sign(t, "bank-a")); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.Active("fraud"); c == nil || c.Revision != 1 {
		t.Errorf("Active() after a half-signed revision 2 = %v; want revision 1", c)
	}
	if err := l.Verify(); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	if n := len(l.Records()); n != 5 {
		t.Errorf("len(Records()) = %d; want 5", n)
	}
	l.Close()
	l2 := openLog(t, path)
	if n := len(l2.Records()); n != 5 {
		t.Errorf("reopened log has %d records; want 5", n)
	}
	if !bytes.Contains(l2.Records()[0].Payload, []byte(`"time":"2026-03-01T12:00:00Z"`)) {
		t.Errorf("record time is not the injected Now: %s", l2.Records()[0].Payload)
	}
}

func TestRejectedEntries(t *testing.T) {
	path, p := build(t)
	l := openLog(t, path)
	h, _ := p.c.Hash()
	other := newContract(t, 1)
	tests := []struct {
		name string
		do   func() error
	}{
		{"signature for unknown proposal", func() error {
			_, err := l.AppendSignature("fraud", [32]byte{1}, p.sign(t, "bank-a"))
			return err
		}},
		{"signature by wrong key", func() error {
			s := other.sign(t, "bank-a")
			_, err := l.AppendSignature("fraud", h, s)
			return err
		}},
		{"signature by non-party", func() error {
			s := p.sign(t, "bank-a")
			s.Party = "bank-c"
			_, err := l.AppendSignature("fraud", h, s)
			return err
		}},
		{"duplicate proposal", func() error { _, err := l.Propose(p.c); return err }},
		{"invalid contract", func() error {
			bad := newContract(t, 1)
			bad.c.Enclave.Debug = true
			_, err := l.Propose(bad.c)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(l.Records())
			if err := tt.do(); !errors.Is(err, ErrEntry) {
				t.Errorf("%s = %v; want ErrEntry", tt.name, err)
			}
			if after := len(l.Records()); after != before {
				t.Errorf("rejected entry was appended (%d → %d records)", before, after)
			}
		})
	}
	if err := l.Verify(); err != nil {
		t.Errorf("Verify() after rejected entries = %v; want nil", err)
	}
}

func TestTamper(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(lines []string) []string
		wantSeq uint64
	}{
		{"edit payload", func(ls []string) []string {
			ls[1] = strings.Replace(ls[1], `"party":"bank-a"`, `"party":"bank-b"`, 1)
			return ls
		}, 2},
		{"delete record", func(ls []string) []string { return append(ls[:1], ls[2:]...) }, 2},
		{"swap records", func(ls []string) []string { ls[1], ls[2] = ls[2], ls[1]; return ls }, 2},
		{"change time", func(ls []string) []string {
			ls[2] = strings.Replace(ls[2], "2026-03-01", "2026-02-01", 1)
			return ls
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := build(t)
			l := openLog(t, path)
			data, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			lines = tt.edit(lines)
			os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
			var be *hashchain.BreakError
			err := l.Verify()
			if !errors.As(err, &be) || be.Seq != tt.wantSeq {
				t.Errorf("Verify() = %v; want break at record %d", err, tt.wantSeq)
			}
			if _, err := Open(path, Options{}); !errors.As(err, &be) {
				t.Errorf("Open(tampered) = %v; want a BreakError", err)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		path, _ := build(t)
		l := openLog(t, path)
		data, _ := os.ReadFile(path)
		lines := strings.SplitAfter(string(data), "\n")
		os.WriteFile(path, []byte(lines[0]+lines[1]), 0o600)
		var be *hashchain.BreakError
		if err := l.Verify(); !errors.As(err, &be) || be.Seq != 3 {
			t.Errorf("Verify(truncated) = %v; want break at record 3", err)
		}
	})
	t.Run("garbage line", func(t *testing.T) {
		path, _ := build(t)
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("{not json\n")
		f.Close()
		if _, err := Open(path, Options{}); !errors.Is(err, ErrFormat) {
			t.Errorf("Open(garbage line) = %v; want ErrFormat", err)
		}
	})
	t.Run("valid chain, forged signature entry", func(t *testing.T) {
		// A writer who recomputes the chain still cannot log a signature
		// that does not verify.
		path, p := build(t)
		recs := mustRead(t, path)
		h, _ := p.c.Hash()
		forged := []byte(`{"type":"sign","time":"2026-03-01T12:00:00Z","contract_id":"fraud","contract_hash":"` + hexs(h[:]) + `","signature":{"party":"bank-a","sig":"AAAA"}}`)
		last := recs[len(recs)-1]
		recs = append(recs, hashchain.Next(&last, forged))
		writeRecords(t, path, recs)
		if _, err := Open(path, Options{}); !errors.Is(err, ErrEntry) {
			t.Errorf("Open(forged signature) = %v; want ErrEntry", err)
		}
	})
}

func mustRead(t *testing.T, path string) []hashchain.Record {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := ReadRecords(f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeRecords(t *testing.T, path string, recs []hashchain.Record) {
	var buf bytes.Buffer
	for _, r := range recs {
		buf.WriteString(`{"seq":` + itoa(r.Seq) + `,"prev":"` + hexs(r.Prev[:]) + `","hash":"` + hexs(r.Hash[:]) + `","payload":` + string(r.Payload) + "}\n")
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	var out []byte
	for _, x := range b {
		out = append(out, d[x>>4], d[x&15])
	}
	return string(out)
}

func FuzzReadRecords(f *testing.F) {
	path, _ := build(f)
	data, _ := os.ReadFile(path)
	f.Add(data)
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := ReadRecords(bytes.NewReader(in))
		if err != nil {
			return
		}
		_, _ = replay(recs)
	})
}
