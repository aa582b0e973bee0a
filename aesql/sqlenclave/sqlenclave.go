package sqlenclave

import (
	"context"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/aesql/internal/sqlq"
	"github.com/confide-dev/confide/enclave"
	"github.com/confide-dev/confide/tee"
)

// Errors the enclave returns (they cross the boundary as messages; the
// server reports them to the client).
var (
	// ErrSession reports an unknown or expired session, or a query the
	// session's client did not authorise.
	ErrSession = errors.New("sqlenclave: no session authorises this query")
	// ErrKey reports a column encryption key the session does not hold,
	// or a column loaded under another key.
	ErrKey = errors.New("sqlenclave: column encryption key not held by the session")
	// ErrCell reports a cell that does not decrypt or decode.
	ErrCell = errors.New("sqlenclave: cell does not decrypt")
	// ErrOperation reports an operation the query does not contain or the
	// type does not support.
	ErrOperation = errors.New("sqlenclave: operation not allowed")
)

// Limits.
const (
	// SessionTTL is how long a session's keys stay cached after its last
	// package.
	SessionTTL = 10 * time.Minute
	// MaxSessions bounds the sessions held at once (the oldest goes).
	MaxSessions = 4096
	// MaxColumns bounds the cached columns (the least recently used goes).
	MaxColumns = 64
	// MaxQueries bounds the queries a session has authorised and not yet
	// forgotten.
	MaxQueries = 256
)

// Ecalls returns the SQL enclave's ecall table, for enclave.Run.
func Ecalls() enclave.Ecalls {
	return New(func(rd [tee.ReportDataSize]byte) ([]byte, error) {
		p, err := enclave.Platform()
		if err != nil {
			return nil, err
		}
		return p.Quote(rd)
	}, time.Now).Ecalls()
}

// Engine is the enclave's state. New makes one; tests run it outside an
// enclave with a simulated platform's quote function.
type Engine struct {
	quote func([tee.ReportDataSize]byte) ([]byte, error)
	now   func() time.Time
	key   *ecdh.PrivateKey

	mu       sync.Mutex
	sessions map[[enclproto.KeySize]byte]*session
	columns  map[string]*column
	tick     uint64
}

type session struct {
	key     []byte
	nonce   [enclproto.NonceSize]byte
	seq     uint64
	ceks    map[string]*aesql.Key
	fprints map[string][32]byte
	queries map[[32]byte]uint64
	used    time.Time
}

// New returns an Engine that makes evidence with quote.
func New(quote func([tee.ReportDataSize]byte) ([]byte, error), now func() time.Time) *Engine {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &Engine{quote: quote, now: now, key: k, sessions: map[[enclproto.KeySize]byte]*session{}, columns: map[string]*column{}}
}

// Ecalls returns the ecall table served by e.
func (e *Engine) Ecalls() enclave.Ecalls {
	return enclave.Ecalls{
		enclproto.FnAttest:  e.attest,
		enclproto.FnPackage: e.openPackage,
		enclproto.FnLoad:    e.load,
		enclproto.FnEval:    e.eval,
	}
}

func invalid(err error) error { return fmt.Errorf("%w: %w", enclave.ErrInvalidParameter, err) }

func (e *Engine) attest(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) != enclproto.NonceSize {
		return nil, invalid(fmt.Errorf("%w: nonce of %d bytes", enclproto.ErrMalformed, len(in)))
	}
	pub := e.key.PublicKey().Bytes()
	q, err := e.quote(enclproto.ReportData(in, pub))
	if err != nil {
		return nil, err
	}
	return append(pub, q...), nil
}

// fingerprint identifies a CEK without revealing it.
func fingerprint(cek []byte) [32]byte {
	m := hmac.New(sha256.New, cek)
	m.Write([]byte("confide aesql cek fingerprint"))
	var f [32]byte
	copy(f[:], m.Sum(nil))
	return f
}

func (e *Engine) openPackage(ctx context.Context, in []byte) ([]byte, error) {
	r := enclproto.NewReader(in)
	pkg := r.Bytes32(enclproto.MaxString)
	query := string(r.Rest())
	if r.Err != nil {
		return nil, invalid(r.Err)
	}
	h, err := enclproto.ParsePackageHeader(pkg)
	if err != nil {
		return nil, invalid(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.expire(now)
	s := e.sessions[h.ClientKey]
	if s != nil && s.nonce != h.Nonce {
		// A new attestation by the same client key starts afresh.
		s.close()
		s = nil
	}
	if s == nil {
		peer, err := ecdh.X25519().NewPublicKey(h.ClientKey[:])
		if err != nil {
			return nil, invalid(err)
		}
		key, err := enclproto.SessionKey(e.key, peer, h.Nonce[:], h.ClientKey[:], e.key.PublicKey().Bytes())
		if err != nil {
			return nil, invalid(err)
		}
		s = &session{key: key, nonce: h.Nonce, ceks: map[string]*aesql.Key{}, fprints: map[string][32]byte{}, queries: map[[32]byte]uint64{}}
	}
	if h.Seq <= s.seq {
		return nil, fmt.Errorf("%w: replayed package", ErrSession)
	}
	ceks, err := enclproto.OpenPackage(s.key, pkg, query)
	if err != nil {
		return nil, err
	}
	for _, c := range ceks {
		k, err := aesql.NewKey(c.Key)
		if err != nil {
			clear(c.Key)
			return nil, invalid(err)
		}
		if old := s.ceks[c.Name]; old != nil {
			old.Close()
		}
		s.ceks[c.Name] = k
		s.fprints[c.Name] = fingerprint(c.Key)
		clear(c.Key)
	}
	s.seq = h.Seq
	s.used = now
	if len(s.queries) >= MaxQueries {
		var oldest [32]byte
		min := uint64(math.MaxUint64)
		for q, n := range s.queries {
			if n < min {
				oldest, min = q, n
			}
		}
		delete(s.queries, oldest)
	}
	s.queries[sha256.Sum256([]byte(query))] = h.Seq
	if _, ok := e.sessions[h.ClientKey]; !ok {
		if len(e.sessions) >= MaxSessions {
			var oldest [enclproto.KeySize]byte
			var t time.Time
			first := true
			for k, o := range e.sessions {
				if first || o.used.Before(t) {
					oldest, t, first = k, o.used, false
				}
			}
			e.sessions[oldest].close()
			delete(e.sessions, oldest)
		}
		e.sessions[h.ClientKey] = s
	}
	return nil, nil
}

func (s *session) close() {
	clear(s.key)
	for _, k := range s.ceks {
		k.Close()
	}
}

func (e *Engine) expire(now time.Time) {
	for k, s := range e.sessions {
		if now.Sub(s.used) > SessionTTL {
			s.close()
			delete(e.sessions, k)
		}
	}
}

// sessionKey returns the session's key named cek, with e.mu held.
func (e *Engine) sessionCEK(client [enclproto.KeySize]byte, cek string) (*session, *aesql.Key, error) {
	e.expire(e.now())
	s := e.sessions[client]
	if s == nil {
		return nil, nil, ErrSession
	}
	k := s.ceks[cek]
	if k == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrKey, cek)
	}
	return s, k, nil
}

// value classes: how a type's values compare.
const (
	classInt = iota + 1
	classFloat
	classString
)

// classOf returns how values of t compare: integers (also money as
// 1/10000 units, and date and time types as 100 ns ticks,
// datetimeoffset as its UTC instant), floats, or byte strings (character
// and binary types by code point or byte, decimal and uniqueidentifier
// as keys whose byte order is their value order: decimalKey, guidKey).
func classOf(t aesql.Type) (int, error) {
	switch t.Kind {
	case aesql.Bit, aesql.TinyInt, aesql.SmallInt, aesql.Int, aesql.BigInt, aesql.Money, aesql.SmallMoney,
		aesql.Date, aesql.Time, aesql.DateTime2, aesql.DateTimeOffset:
		return classInt, nil
	case aesql.Real, aesql.Float:
		return classFloat, nil
	case aesql.Char, aesql.VarChar, aesql.NChar, aesql.NVarChar, aesql.Binary, aesql.VarBinary,
		aesql.Decimal, aesql.UniqueIdentifier:
		return classString, nil
	}
	return 0, fmt.Errorf("%w: %s columns are not supported in enclave computations", ErrOperation, t.Kind)
}

// val is a decrypted value in comparable form.
type val struct {
	i int64
	f float64
	s string
}

func decode(k *aesql.Key, t aesql.Type, cls int, cell []byte) (val, error) {
	plain, err := k.Decrypt(cell)
	if err != nil {
		return val{}, ErrCell
	}
	defer clear(plain)
	v, err := aesql.Denormalize(t, plain)
	if err != nil {
		return val{}, fmt.Errorf("%w: value does not fit the column type", ErrCell)
	}
	// Denormalize has checked the size and range of these.
	switch t.Kind {
	case aesql.Money, aesql.SmallMoney:
		// value·10⁴ as int64, high 32 bits first, each half little-endian.
		return val{i: int64(uint64(binary.LittleEndian.Uint32(plain[0:4]))<<32 | uint64(binary.LittleEndian.Uint32(plain[4:8])))}, nil
	case aesql.Decimal:
		return val{s: decimalKey(plain)}, nil
	case aesql.UniqueIdentifier:
		return val{s: guidKey(plain)}, nil
	}
	switch x := v.(type) {
	case bool:
		if x {
			return val{i: 1}, nil
		}
		return val{}, nil
	case uint8:
		return val{i: int64(x)}, nil
	case int16:
		return val{i: int64(x)}, nil
	case int32:
		return val{i: int64(x)}, nil
	case int64:
		return val{i: x}, nil
	case time.Duration:
		return val{i: int64(x)}, nil
	case time.Time:
		return val{i: x.Unix()*1e7 + int64(x.Nanosecond()/100)}, nil
	case float32:
		return val{f: float64(x)}, nil
	case float64:
		return val{f: x}, nil
	case string:
		return val{s: x}, nil
	case []byte:
		return val{s: string(x)}, nil
	}
	_ = cls
	return val{}, fmt.Errorf("%w: unsupported value", ErrOperation)
}

// decimalKey maps a normalised decimal (sign byte, 1 for positive or
// zero, then a 16-byte little-endian magnitude; the scale is the
// column's) to 16 bytes whose byte order is the value order: the
// magnitude plus 2¹²⁷ for positive values, 2¹²⁷ minus it for negative
// ones, big-endian. Negative zero maps to zero.
func decimalKey(b []byte) string {
	lo, hi := binary.LittleEndian.Uint64(b[1:9]), binary.LittleEndian.Uint64(b[9:17])
	if b[0] == 0 {
		// 2¹²⁷ − magnitude.
		var borrow uint64
		lo, borrow = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(1<<63, hi, borrow)
	} else {
		hi += 1 << 63 // magnitudes are below 10³⁸ < 2¹²⁷
	}
	var k [16]byte
	binary.BigEndian.PutUint64(k[0:8], hi)
	binary.BigEndian.PutUint64(k[8:16], lo)
	return string(k[:])
}

// guidOrder is the order in which SQL Server (and .NET's SqlGuid)
// compare the bytes of a uniqueidentifier in Guid.ToByteArray order, the
// normalised form: the last six bytes first.
var guidOrder = [16]int{10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3}

// guidKey permutes a normalised uniqueidentifier into guidOrder, so that
// byte order is SQL Server's order.
func guidKey(b []byte) string {
	var k [16]byte
	for i, j := range guidOrder {
		k[i] = b[j]
	}
	return string(k[:])
}

// column is a decrypted column in the cache: values in row order, the
// row positions sorted by value, and each row's dense rank.
type column struct {
	cek [32]byte
	typ aesql.Type
	cls int
	// Values in row order, in the slice of the column's class (kept
	// free of pointers where possible: the garbage collector does not
	// scan them).
	ints  []int64
	flts  []float64
	strs  []string
	n     int
	null  []bool
	order []int32
	rank  []uint32
	done  bool
	used  uint64
	// ranked columns (LoadRanked) also hold the ranks the server has
	// stored (enclproto.NoRank for none) and, once done, the sparse
	// order-preserving rank of every row (0 for NULL).
	ranked bool
	stored []int64
	sparse []int64
}

func (e *Engine) load(ctx context.Context, in []byte) ([]byte, error) {
	req, err := enclproto.ParseLoadRequest(in)
	if err != nil {
		return nil, invalid(err)
	}
	cls, err := classOf(req.Type)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	s, k, err := e.sessionCEK(req.ClientKey, req.CEK)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	fp := s.fprints[req.CEK]
	c := e.columns[req.Cache]
	if req.Flags&enclproto.LoadFirst != 0 || c == nil {
		if req.Flags&enclproto.LoadFirst == 0 {
			e.mu.Unlock()
			return nil, invalid(fmt.Errorf("%w: load of %q without its first batch", enclproto.ErrMalformed, req.Cache))
		}
		c = &column{cek: fp, typ: req.Type, cls: cls, ranked: req.Flags&enclproto.LoadRanked != 0}
		e.evict()
		e.columns[req.Cache] = c
	}
	if c.ranked != (req.Flags&enclproto.LoadRanked != 0) {
		e.mu.Unlock()
		return nil, invalid(fmt.Errorf("%w: batches of %q disagree on ranks", enclproto.ErrMalformed, req.Cache))
	}
	if c.done || c.cek != fp || c.typ != req.Type {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: column %q is loaded under another key or type", ErrKey, req.Cache)
	}
	e.tick++
	c.used = e.tick
	e.mu.Unlock()

	// Decrypt outside the lock (the server loads one column at a time),
	// on every CPU.
	vals := make([]val, len(req.Cells))
	null := make([]bool, len(req.Cells))
	workers := min(runtime.GOMAXPROCS(0), max(len(req.Cells)/1024, 1))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(req.Cells)/workers, (w+1)*len(req.Cells)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				cell := req.Cells[i]
				if len(cell) == 0 {
					null[i] = true
					continue
				}
				v, err := decode(k, req.Type, cls, cell)
				if err != nil {
					errs[w] = fmt.Errorf("%w (row %d of the batch)", err, i)
					return
				}
				vals[i] = v
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			e.mu.Lock()
			delete(e.columns, req.Cache)
			e.mu.Unlock()
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.columns[req.Cache] != c {
		return nil, fmt.Errorf("%w: column %q was dropped during the load", ErrOperation, req.Cache)
	}
	for _, v := range vals {
		switch c.cls {
		case classInt:
			c.ints = append(c.ints, v.i)
		case classFloat:
			c.flts = append(c.flts, v.f)
		default:
			c.strs = append(c.strs, v.s)
		}
	}
	c.n += len(vals)
	c.null = append(c.null, null...)
	if c.ranked {
		c.stored = append(c.stored, req.Ranks...)
	}
	if req.Flags&enclproto.LoadLast != 0 {
		c.finish()
		if c.ranked {
			return enclproto.MarshalRankUpdates(c.assignRanks()), nil
		}
	}
	return nil, nil
}

func (e *Engine) evict() {
	for len(e.columns) >= MaxColumns {
		var victim string
		min := uint64(math.MaxUint64)
		for n, c := range e.columns {
			if c.used < min {
				victim, min = n, c.used
			}
		}
		delete(e.columns, victim)
	}
}

func (c *column) finish() {
	c.order = make([]int32, 0, c.n)
	for i := range c.n {
		if !c.null[i] {
			c.order = append(c.order, int32(i))
		}
	}
	slices.SortFunc(c.order, c.cmp)
	c.rank = make([]uint32, c.n)
	r := uint32(0)
	for i, p := range c.order {
		if i == 0 || c.cmp(c.order[i-1], p) != 0 {
			r++
		}
		c.rank[p] = r
	}
	c.done = true
}

// Sparse ranks: a fresh numbering spaces distinct values rankSpacing
// apart, so that values inserted later fit between their neighbours
// without renumbering (about 20 halvings of a gap).
const (
	rankSpacing = 1 << 20
	maxRank     = 1 << 62
)

// rankedPositions is the most matches of a comparison on a ranked column
// that are answered as row positions rather than rank ranges.
const rankedPositions = 256

// assignRanks gives every row of a ranked column a sparse rank: equal
// values equal ranks, a larger value a larger rank, NULL 0. It keeps the
// ranks the server stored where they are consistent, fits values without
// one between their neighbours, and renumbers every value when a gap is
// too small. It returns the rows whose stored rank must change.
func (c *column) assignRanks() []enclproto.RankUpdate {
	// Distinct values in order, each with the rank it keeps (0: none).
	type group struct {
		lo, hi int // in c.order
		rank   int64
	}
	var groups []group
	last := int64(0)
	for i := 0; i < len(c.order); {
		j := i + 1
		for j < len(c.order) && c.cmp(c.order[i], c.order[j]) == 0 {
			j++
		}
		g := group{lo: i, hi: j}
		for _, p := range c.order[i:j] {
			if r := c.stored[p]; r > 0 {
				// The first stored rank of the group is its candidate;
				// it stays only if it keeps the order.
				if r > last && r <= maxRank {
					g.rank, last = r, r
				}
				break
			}
		}
		groups = append(groups, g)
		i = j
	}
	// Fill runs of groups without a rank between their neighbours.
	fits := true
	for i := 0; i < len(groups) && fits; {
		if groups[i].rank != 0 {
			i++
			continue
		}
		j := i
		for j < len(groups) && groups[j].rank == 0 {
			j++
		}
		m := int64(j - i)
		lo := int64(0)
		if i > 0 {
			lo = groups[i-1].rank
		}
		var step int64
		if j == len(groups) {
			step = rankSpacing
			if (maxRank-lo)/step < m {
				fits = false
			}
		} else {
			step = (groups[j].rank - lo) / (m + 1)
			if step < 1 {
				fits = false
			}
		}
		for k := i; k < j && fits; k++ {
			groups[k].rank = lo + step*int64(k-i+1)
		}
		i = j
	}
	if !fits {
		step := int64(rankSpacing)
		if int64(len(groups)) > maxRank/step {
			step = 1
		}
		for i := range groups {
			groups[i].rank = step * int64(i+1)
		}
	}
	c.sparse = make([]int64, c.n)
	for _, g := range groups {
		for _, p := range c.order[g.lo:g.hi] {
			c.sparse[p] = g.rank
		}
	}
	var us []enclproto.RankUpdate
	for p, r := range c.sparse {
		if c.stored[p] != r {
			us = append(us, enclproto.RankUpdate{Pos: uint32(p), Rank: r})
		}
	}
	c.stored = nil
	return us
}

// rankRanges turns ranges of the sorted order into the inclusive ranges
// of the rows' sparse ranks.
func (c *column) rankRanges(ranges [][2]int) [][2]int64 {
	var out [][2]int64
	for _, r := range ranges {
		lo, hi := c.sparse[c.order[r[0]]], c.sparse[c.order[r[1]-1]]
		if n := len(out); n > 0 && out[n-1][1] >= lo-1 {
			out[n-1][1] = max(out[n-1][1], hi)
			continue
		}
		out = append(out, [2]int64{lo, hi})
	}
	return out
}

// cmp compares the values at two positions.
func (c *column) cmp(a, b int32) int {
	switch c.cls {
	case classInt:
		return cmpOrdered(c.ints[a], c.ints[b])
	case classFloat:
		return cmpOrdered(c.flts[a], c.flts[b])
	}
	return strings.Compare(c.strs[a], c.strs[b])
}

// cmpVal compares the value at position a with v.
func (c *column) cmpVal(a int32, v val) int {
	switch c.cls {
	case classInt:
		return cmpOrdered(c.ints[a], v.i)
	case classFloat:
		return cmpOrdered(c.flts[a], v.f)
	}
	return strings.Compare(c.strs[a], v.s)
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bound returns the first index in order whose value is >= v (or > v).
func (c *column) bound(v val, strict bool) int {
	return sort.Search(len(c.order), func(i int) bool {
		d := c.cmpVal(c.order[i], v)
		if strict {
			return d > 0
		}
		return d >= 0
	})
}

func (e *Engine) eval(ctx context.Context, in []byte) ([]byte, error) {
	req, err := enclproto.ParseEvalRequest(in)
	if err != nil {
		return nil, invalid(err)
	}
	st, err := sqlq.Analyze(req.Query)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOperation, err)
	}
	if int64(req.Pred) >= int64(len(st.Preds)) {
		return nil, fmt.Errorf("%w: the query has no predicate %d", ErrOperation, req.Pred)
	}
	pred := st.Preds[req.Pred]
	switch pred.Kind {
	case sqlq.Compare, sqlq.Between, sqlq.In, sqlq.Like:
		if len(req.Args) != len(pred.Args) {
			return nil, fmt.Errorf("%w: %d arguments for a predicate with %d", ErrOperation, len(req.Args), len(pred.Args))
		}
		for _, a := range pred.Args {
			if a.Kind != sqlq.OParam {
				return nil, fmt.Errorf("%w: operand is not a parameter", ErrOperation)
			}
		}
	case sqlq.OrderBy, sqlq.GroupBy:
		if len(req.Args) != 0 {
			return nil, fmt.Errorf("%w: arguments for an ordering", ErrOperation)
		}
	default:
		return nil, fmt.Errorf("%w: %s is not evaluated in the enclave", ErrOperation, pred.Kind)
	}
	if pred.Kind == sqlq.Like && req.Type.Kind != aesql.Char && req.Type.Kind != aesql.VarChar &&
		req.Type.Kind != aesql.NChar && req.Type.Kind != aesql.NVarChar {
		return nil, fmt.Errorf("%w: LIKE on a %s column", ErrOperation, req.Type.Kind)
	}

	e.mu.Lock()
	s, k, err := e.sessionCEK(req.ClientKey, req.CEK)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	if _, ok := s.queries[sha256.Sum256([]byte(req.Query))]; !ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: query not sealed by the client", ErrSession)
	}
	s.used = e.now()
	c := e.columns[req.Cache]
	if c == nil || !c.done {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: column %q is not loaded", ErrOperation, req.Cache)
	}
	if c.cek != s.fprints[req.CEK] || c.typ != req.Type {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: column %q is loaded under another key or type", ErrKey, req.Cache)
	}
	e.tick++
	c.used = e.tick
	e.mu.Unlock()
	// The column is immutable once done; evaluate without the lock.

	args := make([]val, len(req.Args))
	for i, a := range req.Args {
		if args[i], err = decode(k, c.typ, c.cls, a); err != nil {
			return nil, fmt.Errorf("%w (argument %d)", err, i+1)
		}
	}
	n := c.n
	if pred.Kind == sqlq.OrderBy || pred.Kind == sqlq.GroupBy {
		return (&enclproto.EvalResult{Kind: enclproto.ResultRanks, N: uint32(n), Ranks: c.rank}).Marshal(), nil
	}
	// Comparisons select ranges of the sorted order; few matches travel
	// as positions, many as a bitmap.
	var ranges [][2]int
	setRange := func(lo, hi int) {
		if lo < hi {
			ranges = append(ranges, [2]int{lo, hi})
		}
	}
	var bm []byte
	switch pred.Kind {
	case sqlq.Compare:
		v := args[0]
		switch pred.Op {
		case "=":
			setRange(c.bound(v, false), c.bound(v, true))
		case "<>":
			setRange(0, c.bound(v, false))
			setRange(c.bound(v, true), len(c.order))
		case "<":
			setRange(0, c.bound(v, false))
		case "<=":
			setRange(0, c.bound(v, true))
		case ">":
			setRange(c.bound(v, true), len(c.order))
		case ">=":
			setRange(c.bound(v, false), len(c.order))
		}
	case sqlq.Between:
		lo, hi := c.bound(args[0], false), c.bound(args[1], true)
		if pred.Not {
			setRange(0, min(lo, len(c.order)))
			setRange(max(hi, lo), len(c.order))
		} else if lo < hi {
			setRange(lo, hi)
		}
	case sqlq.In:
		var in [][2]int
		for _, v := range args {
			if lo, hi := c.bound(v, false), c.bound(v, true); lo < hi {
				in = append(in, [2]int{lo, hi})
			}
		}
		slices.SortFunc(in, func(a, b [2]int) int { return a[0] - b[0] })
		in = slices.CompactFunc(in, func(a, b [2]int) bool { return a == b })
		if pred.Not {
			at := 0
			for _, r := range in {
				setRange(at, r[0])
				at = r[1]
			}
			setRange(at, len(c.order))
		} else {
			ranges = in
		}
	case sqlq.Like:
		bm = make([]byte, (n+7)/8)
		pat := args[0].s
		var last string
		lastMatch, first := false, true
		for _, p := range c.order {
			s := c.strs[p]
			if first || s != last {
				lastMatch, last, first = like(s, pat) != pred.Not, s, false
			}
			if lastMatch {
				bm[p>>3] |= 1 << (p & 7)
			}
		}
	}
	if bm != nil {
		return encodeMatches(bm, n), nil
	}
	count := 0
	for _, r := range ranges {
		count += r[1] - r[0]
	}
	if c.ranked && (count > rankedPositions || 4*count >= (n+7)/8) {
		// Many matches on an indexed column: an index range scan of its
		// rank column (few travel as positions, which the server looks up
		// by row ID, cheaper still).
		return (&enclproto.EvalResult{Kind: enclproto.ResultRankRanges, N: uint32(n), Ranges: c.rankRanges(ranges)}).Marshal(), nil
	}
	if 4*count < (n+7)/8 {
		pos := make([]uint32, 0, count)
		for _, r := range ranges {
			for _, p := range c.order[r[0]:r[1]] {
				pos = append(pos, uint32(p))
			}
		}
		slices.Sort(pos)
		return (&enclproto.EvalResult{Kind: enclproto.ResultPositions, N: uint32(n), Ranks: pos}).Marshal(), nil
	}
	bm = make([]byte, (n+7)/8)
	for _, r := range ranges {
		for _, p := range c.order[r[0]:r[1]] {
			bm[p>>3] |= 1 << (p & 7)
		}
	}
	return encodeMatches(bm, n), nil
}

// encodeMatches sends the matches as positions when they are few (4
// bytes each against n/8 for the bitmap), else as the bitmap.
func encodeMatches(bm []byte, n int) []byte {
	count := 0
	for _, b := range bm {
		count += bits.OnesCount8(b)
	}
	if 4*count >= len(bm) {
		return (&enclproto.EvalResult{Kind: enclproto.ResultBitmap, N: uint32(n), Bitmap: bm}).Marshal()
	}
	pos := make([]uint32, 0, count)
	for i, b := range bm {
		for b != 0 {
			j := bits.TrailingZeros8(b)
			pos = append(pos, uint32(8*i+j))
			b &= b - 1
		}
	}
	return (&enclproto.EvalResult{Kind: enclproto.ResultPositions, N: uint32(n), Ranks: pos}).Marshal()
}

// like matches s against a SQL LIKE pattern: % any run, _ one character,
// [abc] and [a-z] and [^…] one character of a set; case-sensitive, as
// under the BIN2 collations enclave computations require. It runs in
// O(len(s)·len(pat)): the pattern comes from a client, but the enclave
// bounds its own work.
func like(s, pat string) bool {
	type elem struct {
		kind byte // '%', '_', '[', or 0 for a literal
		r    rune
		set  string
		neg  bool
	}
	var p []elem
	for i := 0; i < len(pat); {
		r, n := utf8.DecodeRuneInString(pat[i:])
		switch r {
		case '%':
			if len(p) == 0 || p[len(p)-1].kind != '%' {
				p = append(p, elem{kind: '%'})
			}
		case '_':
			p = append(p, elem{kind: '_'})
		case '[':
			if end := strings.IndexByte(pat[i+1:], ']'); end >= 0 {
				set := pat[i+1 : i+1+end]
				e := elem{kind: '['}
				if e.neg = strings.HasPrefix(set, "^"); e.neg {
					set = set[1:]
				}
				e.set = set
				p = append(p, e)
				i += end + 2
				continue
			}
			p = append(p, elem{r: r})
		default:
			p = append(p, elem{r: r})
		}
		i += n
	}
	text := []rune(s)
	match := func(e elem, c rune) bool {
		switch e.kind {
		case '_':
			return true
		case '[':
			return inSet(c, e.set) != e.neg
		}
		return e.r == c
	}
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(text) {
		switch {
		case pi < len(p) && p[pi].kind != '%' && match(p[pi], text[si]):
			si++
			pi++
		case pi < len(p) && p[pi].kind == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == '%' {
		pi++
	}
	return pi == len(p)
}

func inSet(c rune, set string) bool {
	rs := []rune(set)
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			if c >= rs[i] && c <= rs[i+2] {
				return true
			}
			i += 2
			continue
		}
		if c == rs[i] {
			return true
		}
	}
	return false
}
