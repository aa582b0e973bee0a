package sqlenclave

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/image"
	"github.com/confide-dev/confide/tee"
	"github.com/confide-dev/confide/tee/sim"
)

// world is an Engine on a simulated platform, outside an enclave process
// (aesql/driver's tests run the same engine in a real enclave).
type world struct {
	e   *Engine
	st  *sim.State
	id  image.Identity
	cek []byte
	key *aesql.Key
	clk time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st, err := sim.Init(filepath.Join(t.TempDir(), "sim"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, cek: make([]byte, 32), clk: time.Now()}
	rand.Read(w.id.SignerID[:])
	w.id.ProductID = 0xA5
	p, err := st.Platform(w.id, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.e = New(func(rd [tee.ReportDataSize]byte) ([]byte, error) { return p.Quote(rd) }, func() time.Time { return w.clk })
	rand.Read(w.cek)
	w.key, _ = aesql.NewKey(w.cek)
	return w
}

// client is a driver's side of a session.
type client struct {
	w     *world
	priv  *ecdh.PrivateKey
	nonce [32]byte
	key   []byte
	seq   uint64
}

func (w *world) attest(t *testing.T) *client {
	t.Helper()
	c := &client{w: w}
	rand.Read(c.nonce[:])
	out, err := w.e.attest(context.Background(), c.nonce[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, quote := out[:32], out[32:]
	claims, err := sgx.Verify(context.Background(), quote, sgx.Options{SimulatedRoots: []*x509.Certificate{w.st.RootCertificate()}, Getter: w.st.Getter()})
	if err != nil {
		t.Fatal(err)
	}
	want := enclproto.ReportData(c.nonce[:], pub)
	if !bytes.Equal(claims.ReportData, want[:]) || claims.ProductID != 0xA5 || !claims.Simulated {
		t.Fatalf("claims report data %x product %d; want %x, 0xA5, simulated", claims.ReportData, claims.ProductID, want)
	}
	c.priv, _ = ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().NewPublicKey(pub)
	if c.key, err = enclproto.SessionKey(c.priv, peer, c.nonce[:], c.priv.PublicKey().Bytes(), pub); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *client) header() enclproto.Header {
	h := enclproto.Header{Nonce: c.nonce, Seq: c.seq}
	copy(h.ClientKey[:], c.priv.PublicKey().Bytes())
	return h
}

func (c *client) seal(t *testing.T, query string, ceks ...enclproto.CEK) []byte {
	t.Helper()
	c.seq++
	pkg, err := enclproto.SealPackage(c.key, c.header(), query, ceks)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

func (c *client) open(pkg []byte, query string) error {
	in := enclproto.AppendBytes32(nil, pkg)
	_, err := c.w.e.openPackage(context.Background(), append(in, query...))
	return err
}

func (c *client) clientKey() [32]byte {
	var k [32]byte
	copy(k[:], c.priv.PublicKey().Bytes())
	return k
}

var intType = aesql.Type{Kind: aesql.Int}

func (w *world) cell(t testing.TB, typ aesql.Type, v any) []byte {
	p, err := aesql.Normalize(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.key.Encrypt(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *client) load(name, cek string, typ aesql.Type, cells [][]byte) error {
	req := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: name, CEK: cek, Type: typ, Flags: enclproto.LoadFirst | enclproto.LoadLast, Cells: cells}
	_, err := c.w.e.load(context.Background(), req.Marshal())
	return err
}

// eval returns the matching positions (or the ranks) of predicate i.
func (c *client) eval(query string, i int, name, cek string, typ aesql.Type, args ...[]byte) ([]uint32, error) {
	req := enclproto.EvalRequest{ClientKey: c.clientKey(), Query: query, Pred: uint32(i), Cache: name, CEK: cek, Type: typ, Args: args}
	out, err := c.w.e.eval(context.Background(), req.Marshal())
	if err != nil {
		return nil, err
	}
	r, err := enclproto.ParseEvalResult(out)
	if err != nil {
		return nil, err
	}
	if r.Kind == enclproto.ResultBitmap {
		var pos []uint32
		for i := range r.N {
			if r.Bitmap[i/8]&(1<<(i%8)) != 0 {
				pos = append(pos, i)
			}
		}
		return pos, nil
	}
	return r.Ranks, nil
}

func TestEvalMatchesBruteForce(t *testing.T) {
	w := newWorld(t)
	c := w.attest(t)
	r := mrand.New(mrand.NewPCG(5, 6))
	const n = 3000
	ints := make([]int64, n)
	strs := make([]string, n)
	var intCells, strCells [][]byte
	strType := aesql.Type{Kind: aesql.NVarChar, Length: 20}
	for i := range n {
		ints[i] = int64(r.IntN(500)) - 250
		strs[i] = fmt.Sprintf("%c%c-%d", 'a'+rune(r.IntN(5)), 'a'+rune(r.IntN(5)), r.IntN(30))
		intCells = append(intCells, w.cell(t, intType, ints[i]))
		strCells = append(strCells, w.cell(t, strType, strs[i]))
	}
	// Row 17 is NULL: it matches nothing and ranks 0.
	intCells[17], strCells[17] = nil, nil
	queries := []struct {
		q    string
		str  bool
		args []any
		want func(i int) bool
	}{
		{`SELECT * FROM t WHERE x = $1`, false, []any{7}, func(i int) bool { return ints[i] == 7 }},
		{`SELECT * FROM t WHERE x <> $1`, false, []any{7}, func(i int) bool { return ints[i] != 7 }},
		{`SELECT * FROM t WHERE x < $1`, false, []any{-100}, func(i int) bool { return ints[i] < -100 }},
		{`SELECT * FROM t WHERE x <= $1`, false, []any{-100}, func(i int) bool { return ints[i] <= -100 }},
		{`SELECT * FROM t WHERE x > $1`, false, []any{0}, func(i int) bool { return ints[i] > 0 }},
		{`SELECT * FROM t WHERE x >= $1`, false, []any{0}, func(i int) bool { return ints[i] >= 0 }},
		{`SELECT * FROM t WHERE x BETWEEN $1 AND $2`, false, []any{-10, 10}, func(i int) bool { return ints[i] >= -10 && ints[i] <= 10 }},
		{`SELECT * FROM t WHERE x BETWEEN $1 AND $2`, false, []any{10, -10}, func(i int) bool { return false }},
		{`SELECT * FROM t WHERE x NOT BETWEEN $1 AND $2`, false, []any{-10, 10}, func(i int) bool { return ints[i] < -10 || ints[i] > 10 }},
		{`SELECT * FROM t WHERE x NOT BETWEEN $1 AND $2`, false, []any{10, -10}, func(i int) bool { return true }},
		{`SELECT * FROM t WHERE x IN ($1, $2, $3, $4)`, false, []any{1, 2, 1, 249}, func(i int) bool { return ints[i] == 1 || ints[i] == 2 || ints[i] == 249 }},
		{`SELECT * FROM t WHERE x NOT IN ($1, $2)`, false, []any{1, 2}, func(i int) bool { return ints[i] != 1 && ints[i] != 2 }},
		{`SELECT * FROM t WHERE s LIKE $1`, true, []any{"a%"}, func(i int) bool { return strings.HasPrefix(strs[i], "a") }},
		{`SELECT * FROM t WHERE s LIKE $1`, true, []any{"_b-1_"}, func(i int) bool { return len(strs[i]) == 5 && strs[i][1:4] == "b-1" }},
		{`SELECT * FROM t WHERE s NOT LIKE $1`, true, []any{"%[c-d]%"}, func(i int) bool { return !strings.ContainsAny(strs[i], "cd") }},
		{`SELECT * FROM t WHERE s > $1`, true, []any{"cc"}, func(i int) bool { return strs[i] > "cc" }},
	}
	var all []string
	for _, q := range queries {
		all = append(all, q.q)
	}
	for _, q := range slices.Compact(slices.Clone(all)) {
		if err := c.open(c.seal(t, q, enclproto.CEK{Name: "CEK1", Key: w.cek}), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.load("t.x#1", "CEK1", intType, intCells); err != nil {
		t.Fatal(err)
	}
	if err := c.load("t.s#1", "CEK1", strType, strCells); err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		t.Run(fmt.Sprintf("%s%v", q.q, q.args), func(t *testing.T) {
			name, typ := "t.x#1", intType
			if q.str {
				name, typ = "t.s#1", strType
			}
			var args [][]byte
			for _, a := range q.args {
				args = append(args, w.cell(t, typ, a))
			}
			got, err := c.eval(q.q, 0, name, "CEK1", typ, args...)
			if err != nil {
				t.Fatal(err)
			}
			var want []uint32
			for i := range n {
				if i != 17 && q.want(i) {
					want = append(want, uint32(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("eval = %d rows %v…; want %d rows %v…", len(got), got[:min(len(got), 8)], len(want), want[:min(len(want), 8)])
			}
		})
	}
	t.Run("order by ranks", func(t *testing.T) {
		q := `SELECT * FROM t ORDER BY x DESC`
		if err := c.open(c.seal(t, q), q); err != nil {
			t.Fatal(err)
		}
		ranks, err := c.eval(q, 0, "t.x#1", "CEK1", intType)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for j := range n {
				if i == 17 || j == 17 {
					continue
				}
				if (ints[i] < ints[j]) != (ranks[i] < ranks[j]) || (ints[i] == ints[j]) != (ranks[i] == ranks[j]) {
					t.Fatalf("ranks of rows %d, %d (%d, %d) = %d, %d", i, j, ints[i], ints[j], ranks[i], ranks[j])
				}
			}
		}
		if ranks[17] != 0 {
			t.Errorf("rank of the NULL row = %d; want 0", ranks[17])
		}
	})
}

func TestSessionBinding(t *testing.T) {
	w := newWorld(t)
	c := w.attest(t)
	q := `SELECT a FROM t WHERE x = $1`
	cells := [][]byte{w.cell(t, intType, 1), w.cell(t, intType, 2)}
	arg := w.cell(t, intType, 2)
	// Before any package: no session.
	if err := c.load("t.x#1", "CEK1", intType, cells); !errors.Is(err, ErrSession) {
		t.Fatalf("load without a session = %v; want ErrSession", err)
	}
	pkg := c.seal(t, q, enclproto.CEK{Name: "CEK1", Key: w.cek})
	if err := c.open(pkg, `SELECT a FROM t WHERE x > $1`); !errors.Is(err, enclproto.ErrPackage) {
		t.Errorf("package opened for another query = %v; want ErrPackage", err)
	}
	if err := c.open(pkg, q); err != nil {
		t.Fatal(err)
	}
	if err := c.open(pkg, q); !errors.Is(err, ErrSession) {
		t.Errorf("replayed package = %v; want ErrSession", err)
	}
	if err := c.load("t.x#1", "CEK1", intType, cells); err != nil {
		t.Fatal(err)
	}
	if got, err := c.eval(q, 0, "t.x#1", "CEK1", intType, arg); err != nil || !slices.Equal(got, []uint32{1}) {
		t.Fatalf("eval = %v, %v; want [1]", got, err)
	}

	tampered := bytes.Clone(arg)
	tampered[40] ^= 1
	other := make([]byte, 32)
	otherKey, _ := aesql.NewKey(other)
	p, _ := aesql.Normalize(intType, 2)
	wrongKeyArg, _ := otherKey.Encrypt(p, false)
	cases := []struct {
		name  string
		query string
		pred  int
		cek   string
		args  [][]byte
		is    error
	}{
		{"query not sealed", `SELECT a FROM t WHERE x < $1`, 0, "CEK1", [][]byte{arg}, ErrSession},
		{"key not held", q, 0, "CEK9", [][]byte{arg}, ErrKey},
		{"no such predicate", q, 3, "CEK1", [][]byte{arg}, ErrOperation},
		{"too many arguments", q, 0, "CEK1", [][]byte{arg, arg}, ErrOperation},
		{"tampered argument", q, 0, "CEK1", [][]byte{tampered}, ErrCell},
		{"argument under another key", q, 0, "CEK1", [][]byte{wrongKeyArg}, ErrCell},
		{"truncated argument", q, 0, "CEK1", [][]byte{arg[:50]}, ErrCell},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.eval(tc.query, tc.pred, "t.x#1", tc.cek, intType, tc.args...)
			if !errors.Is(err, tc.is) {
				t.Errorf("eval = %v; want %v", err, tc.is)
			}
		})
	}

	t.Run("operand is not a parameter", func(t *testing.T) {
		lit := `SELECT a FROM t WHERE x = 5`
		if err := c.open(c.seal(t, lit), lit); err != nil {
			t.Fatal(err)
		}
		if _, err := c.eval(lit, 0, "t.x#1", "CEK1", intType, arg); !errors.Is(err, ErrOperation) {
			t.Errorf("eval of a literal predicate = %v; want ErrOperation", err)
		}
	})
	t.Run("column loaded under another key", func(t *testing.T) {
		// A second client calls another key CEK1: it may not use the
		// first client's column.
		c2 := w.attest(t)
		if err := c2.open(c2.seal(t, q, enclproto.CEK{Name: "CEK1", Key: other}), q); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.eval(q, 0, "t.x#1", "CEK1", intType, wrongKeyArg); !errors.Is(err, ErrKey) {
			t.Errorf("eval on a column of another key = %v; want ErrKey", err)
		}
	})
	t.Run("tampered stored cell", func(t *testing.T) {
		bad := [][]byte{cells[0], tampered}
		err := c.load("t.x#2", "CEK1", intType, bad)
		if !errors.Is(err, ErrCell) || !strings.Contains(err.Error(), "row 1 of the batch") {
			t.Errorf("load of a tampered cell = %v; want ErrCell naming row 1", err)
		}
	})
	t.Run("session expires", func(t *testing.T) {
		w.clk = w.clk.Add(SessionTTL + time.Minute)
		if _, err := c.eval(q, 0, "t.x#1", "CEK1", intType, arg); !errors.Is(err, ErrSession) {
			t.Errorf("eval after the session TTL = %v; want ErrSession", err)
		}
	})
}

func TestLike(t *testing.T) {
	for _, c := range []struct {
		s, pat string
		want   bool
	}{
		{"abc", "abc", true}, {"abc", "ab", false}, {"abc", "a%", true}, {"abc", "%c", true},
		{"abc", "%b%", true}, {"abc", "a_c", true}, {"ac", "a_c", false}, {"", "%", true},
		{"", "_", false}, {"abc", "[a-b]bc", true}, {"cbc", "[a-b]bc", false}, {"cbc", "[^a-b]bc", true},
		{"ABC", "abc", false}, {"día", "d_a", true}, {"a%b", "a%b", true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%a%a%a%a%a%a%a%ac", false},
		{"xaybzc", "%a%b%c", true}, {"abcbc", "a%bc", true}, {"abcbd", "a%bc", false}, {"ab[", "ab[", true},
	} {
		if got := like(c.s, c.pat); got != c.want {
			t.Errorf("like(%q, %q) = %v; want %v", c.s, c.pat, got, c.want)
		}
	}
}

func FuzzMessages(f *testing.F) {
	w := &world{cek: make([]byte, 32)}
	w.key, _ = aesql.NewKey(w.cek)
	ld := enclproto.LoadRequest{Cache: "t.x#1", CEK: "CEK1", Type: intType, Flags: 3, Cells: [][]byte{w.cell(f, intType, 1)}}
	ev := enclproto.EvalRequest{Query: "SELECT a FROM t WHERE x = $1", Cache: "t.x#1", CEK: "CEK1", Type: intType, Args: [][]byte{w.cell(f, intType, 1)}}
	res := enclproto.EvalResult{Kind: enclproto.ResultPositions, N: 10, Ranks: []uint32{1, 5}}
	f.Add(ld.Marshal())
	f.Add(ev.Marshal())
	f.Add(res.Marshal())
	f.Add((&enclproto.EvalResult{Kind: enclproto.ResultBitmap, N: 9, Bitmap: []byte{1, 1}}).Marshal())
	ranked := enclproto.LoadRequest{Cache: "t.x#2", CEK: "CEK1", Type: intType, Flags: 7, Cells: [][]byte{w.cell(f, intType, 1), nil}, Ranks: []int64{5, enclproto.NoRank}}
	f.Add(ranked.Marshal())
	f.Add((&enclproto.EvalResult{Kind: enclproto.ResultRankRanges, N: 9, Ranges: [][2]int64{{1, 1}, {3, 1 << 40}}}).Marshal())
	f.Add(enclproto.MarshalRankUpdates([]enclproto.RankUpdate{{Pos: 0, Rank: 1 << 20}, {Pos: 3, Rank: 0}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := enclproto.ParseLoadRequest(b); err == nil {
			if !bytes.Equal(l.Marshal(), b) {
				t.Errorf("load request does not round-trip")
			}
		} else if !errors.Is(err, enclproto.ErrMalformed) {
			t.Errorf("ParseLoadRequest error %v", err)
		}
		if e, err := enclproto.ParseEvalRequest(b); err == nil {
			if !bytes.Equal(e.Marshal(), b) {
				t.Errorf("eval request does not round-trip")
			}
		} else if !errors.Is(err, enclproto.ErrMalformed) {
			t.Errorf("ParseEvalRequest error %v", err)
		}
		if r, err := enclproto.ParseEvalResult(b); err == nil {
			if r.Kind == enclproto.ResultBitmap && len(r.Bitmap) != int(r.N+7)/8 ||
				r.Kind == enclproto.ResultRanks && len(r.Ranks) != int(r.N) {
				t.Errorf("result sizes do not match N")
			}
			if r.Kind == enclproto.ResultRankRanges && !bytes.Equal(r.Marshal(), b) {
				t.Errorf("rank ranges do not round-trip")
			}
		}
		if us, err := enclproto.ParseRankUpdates(b, 1<<20); err == nil {
			if !bytes.Equal(enclproto.MarshalRankUpdates(us), b) {
				t.Errorf("rank updates do not round-trip")
			}
		} else if !errors.Is(err, enclproto.ErrMalformed) {
			t.Errorf("ParseRankUpdates error %v", err)
		}
		enclproto.ParsePackageHeader(b)
	})
}

// FuzzEngine feeds host-controlled bytes to every ecall of an engine that
// holds a session and a loaded column: whatever the host sends, the
// enclave answers or refuses, and never panics.
func FuzzEngine(f *testing.F) {
	w := newWorldF(f)
	c := w.attestF(f)
	q := `SELECT a FROM t WHERE x BETWEEN $1 AND $2 ORDER BY x`
	c.seq++
	pkg, _ := enclproto.SealPackage(c.key, c.header(), q, []enclproto.CEK{{Name: "CEK1", Key: w.cek}})
	if err := c.open(pkg, q); err != nil {
		f.Fatal(err)
	}
	cells := [][]byte{w.cell(f, intType, 1), w.cell(f, intType, 5), nil}
	if err := c.load("t.x#1", "CEK1", intType, cells); err != nil {
		f.Fatal(err)
	}
	ev := enclproto.EvalRequest{ClientKey: c.clientKey(), Query: q, Cache: "t.x#1", CEK: "CEK1", Type: intType,
		Args: [][]byte{w.cell(f, intType, 0), w.cell(f, intType, 3)}}
	ld := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: "t.y#1", CEK: "CEK1", Type: intType, Flags: 3, Cells: cells}
	rld := enclproto.LoadRequest{ClientKey: c.clientKey(), Cache: "t.z#1", CEK: "CEK1", Type: intType, Flags: 7, Cells: cells, Ranks: []int64{9, enclproto.NoRank, 3}}
	c.seq++
	pkg2, _ := enclproto.SealPackage(c.key, c.header(), q, nil)
	f.Add(enclproto.FnLoad, rld.Marshal())
	for fn, b := range map[uint32][]byte{enclproto.FnEval: ev.Marshal(), enclproto.FnLoad: ld.Marshal(),
		enclproto.FnPackage: append(enclproto.AppendBytes32(nil, pkg2), q...), enclproto.FnAttest: make([]byte, 32)} {
		f.Add(fn, b)
	}
	calls := w.e.Ecalls()
	f.Fuzz(func(t *testing.T, fn uint32, in []byte) {
		call := calls[fn%5]
		if call == nil {
			return
		}
		call(context.Background(), in)
	})
}

// newWorldF and attestF are newWorld and attest for a fuzz target.
func newWorldF(f *testing.F) *world {
	st, err := sim.Init(filepath.Join(f.TempDir(), "sim"))
	if err != nil {
		f.Fatal(err)
	}
	w := &world{st: st, cek: make([]byte, 32), clk: time.Now()}
	w.id.ProductID = 0xA5
	p, err := st.Platform(w.id, sim.Options{})
	if err != nil {
		f.Fatal(err)
	}
	w.e = New(func(rd [tee.ReportDataSize]byte) ([]byte, error) { return p.Quote(rd) }, func() time.Time { return w.clk })
	rand.Read(w.cek)
	w.key, _ = aesql.NewKey(w.cek)
	return w
}

func (w *world) attestF(f *testing.F) *client {
	c := &client{w: w}
	rand.Read(c.nonce[:])
	out, err := w.e.attest(context.Background(), c.nonce[:])
	if err != nil {
		f.Fatal(err)
	}
	c.priv, _ = ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().NewPublicKey(out[:32])
	if c.key, err = enclproto.SessionKey(c.priv, peer, c.nonce[:], c.priv.PublicKey().Bytes(), out[:32]); err != nil {
		f.Fatal(err)
	}
	return c
}
