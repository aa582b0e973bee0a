package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

// Enclave is the server's enclave: a loaded aesql/sqlenclave
// (*host.Enclave is one).
type Enclave interface {
	Call(ctx context.Context, fn uint32, in []byte) ([]byte, error)
}

// snapshot is a column as loaded into the enclave: its cache name and the
// rowids of its rows, in the order the enclave numbers them.
type snapshot struct {
	name   string
	table  string // key of the table
	rowids []int64
	// ver is the table's version when the rows were read, quiet whether
	// no write to it was in flight then (tx.go).
	ver   uint64
	quiet bool
	// ranked: loaded with the column's ranks, which the rank column then
	// holds (until the table's next write).
	ranked bool
	// private: loaded inside a transaction for one connection (never
	// ranked); own is the transaction's write mark for the table then.
	private bool
	own     uint64
}

// snapshotFor returns the snapshot op evaluates on, loading it if needed,
// and records it as used by c's statement. A private snapshot has no
// ranks, so op then evaluates as on a column without an index.
func (s *Server) snapshotFor(ctx context.Context, c *connState, op *enclaveOp, force bool) (*snapshot, error) {
	var sn *snapshot
	var err error
	switch {
	case c.own:
		sn, err = s.ensurePrivate(ctx, c, c.stmtSnaps, op.table, op.col, force)
	case c.tx != nil:
		if err := s.learnIsolation(ctx, c); err != nil {
			return nil, err
		}
		if sn = s.sharedForTx(c, op.table, op.col, op.ranked); sn == nil || force {
			sn, err = s.ensurePrivate(ctx, c, c.tx.private, op.table, op.col, force)
		}
	default:
		sn, err = s.ensureShared(ctx, c, op.table, op.col, op.ranked, force)
	}
	if err != nil {
		return nil, err
	}
	if sn.private {
		op.ranked = false
	}
	c.used = append(c.used, sn)
	return sn, nil
}

func colKey(t *boundTable, col *colInfo) (string, string) {
	tk := key(t.ref.Name)
	return tk, tk + "." + key(col.Name)
}

// sharedForTx returns the shared snapshot of col if c's transaction sees
// the data it holds: the transaction has not written the table, nothing
// was committed to it since the transaction began, and the snapshot is
// current. It never loads one (a load may write ranks).
func (s *Server) sharedForTx(c *connState, t *boundTable, col *colInfo, ranked bool) *snapshot {
	tk, ck := colKey(t, col)
	if c.tx.own(tk) != 0 {
		return nil
	}
	// The snapshot first: a load that wrote ranks records that before it
	// publishes its snapshot.
	s.snapMu.Lock()
	sn := s.snaps[ck]
	s.snapMu.Unlock()
	ver, touched, quiet := s.version(tk)
	if !quiet || touched > c.tx.start || sn == nil || sn.ver != ver || sn.ranked != ranked {
		return nil
	}
	return sn
}

// ensurePrivate returns c's private snapshot of col from snaps, loading
// it through c's transaction unless current: loaded since the
// transaction's last write to the table and, in a READ COMMITTED
// transaction, since the last commit to it.
func (s *Server) ensurePrivate(ctx context.Context, c *connState, snaps map[string]*snapshot, t *boundTable, col *colInfo, force bool) (*snapshot, error) {
	tk, ck := colKey(t, col)
	var own uint64
	if c.tx != nil {
		own = c.tx.own(tk)
	}
	ver, _, quiet := s.version(tk)
	if sn := snaps[ck]; sn != nil && !force && sn.own == own && (!s.checked(c, sn) || sn.quiet && sn.ver == ver) {
		return sn, nil
	}
	delete(snaps, ck)
	// One enclave cache entry per connection and column.
	sn := &snapshot{name: fmt.Sprintf("%s@%d", ck, c.id), table: tk, ver: ver, quiet: quiet, private: true, own: own}
	if _, err := s.load(ctx, c, t, col, sn); err != nil {
		return nil, err
	}
	snaps[ck] = sn
	return sn, nil
}

// ensureShared returns the shared snapshot of col, loading the table's
// current rows into the enclave, under the key c's session provided,
// unless already there. For a column with an index (ranked) the load also
// carries the stored ranks, and the ranks the enclave assigns are written
// back before it returns. c must not be inside a transaction. While a
// write to the table is in flight no snapshot is current and none is
// loaded: errStale.
func (s *Server) ensureShared(ctx context.Context, c *connState, t *boundTable, col *colInfo, ranked, force bool) (*snapshot, error) {
	tk, ck := colKey(t, col)
	current := func() *snapshot {
		ver, _, quiet := s.version(tk)
		s.snapMu.Lock()
		sn := s.snaps[ck]
		s.snapMu.Unlock()
		if sn != nil && quiet && sn.ver == ver && sn.ranked == ranked {
			return sn
		}
		return nil
	}
	if sn := current(); sn != nil && !force {
		return sn, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if sn := current(); sn != nil && !force {
		return sn, nil
	}
	ver, _, quiet := s.version(tk)
	if !quiet {
		return nil, errStale
	}
	sn := &snapshot{name: fmt.Sprintf("%s#%d", ck, s.nextSnap.Add(1)), table: tk, ver: ver, quiet: true, ranked: ranked}
	lastOut, err := s.load(ctx, c, t, col, sn)
	if err != nil {
		return nil, err
	}
	if ranked {
		us, err := enclproto.ParseRankUpdates(lastOut, len(sn.rowids))
		if err != nil {
			return nil, errf(ErrEnclave, "enclave answered a ranked load with %v", err)
		}
		if len(us) > 0 {
			err := s.storeRanks(ctx, c.conn, t.info, col, sn.rowids, us)
			if err != nil {
				// Some ranks may be stored: no snapshot of the table is
				// current any more.
				s.bump(tk)
				return nil, err
			}
			// Transactions that began before do not see these ranks.
			// (Current snapshots' users are unaffected: a load of the
			// same version finds the ranks its predecessor stored
			// consistent and keeps them, §5.5.)
			s.touch(tk)
		}
	}
	s.snapMu.Lock()
	s.snaps[ck] = sn
	s.snapMu.Unlock()
	return sn, nil
}

// load loads the rows of col that c's connection sees into the enclave
// as sn (its rowids set), in batches, and returns the enclave's answer to
// the last batch.
func (s *Server) load(ctx context.Context, c *connState, t *boundTable, col *colInfo, sn *snapshot) ([]byte, error) {
	ranked := sn.ranked
	q := s.d.loadQuery(t.info.Name, col.Name)
	if ranked {
		q = s.d.loadRankedQuery(t.info.Name, col.Name, rankColumn(col))
	}
	rows, err := c.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, errf(ErrUndefined, "%v", err)
	}
	defer rows.Close()
	// Batches go to the enclave from a second goroutine, in order, while
	// the next is read from the database.
	batches := make(chan []byte, 1)
	sent := make(chan error, 1)
	var lastOut []byte
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				out, cerr := s.opts.Enclave.Call(ctx, enclproto.FnLoad, b)
				if cerr != nil {
					err = enclaveErr(cerr)
				}
				lastOut = out
			}
		}
		sent <- err
	}()
	req := enclproto.LoadRequest{ClientKey: c.client, Cache: sn.name, CEK: col.Def.Encryption.ColumnEncryptionKey, Type: col.Type, Flags: enclproto.LoadFirst}
	if ranked {
		req.Flags |= enclproto.LoadRanked
	}
	size := 0
	flush := func(last bool) {
		if last {
			req.Flags |= enclproto.LoadLast
		}
		batches <- req.Marshal()
		req.Flags, req.Cells, req.Ranks, size = req.Flags&enclproto.LoadRanked, req.Cells[:0], req.Ranks[:0], 0
	}
	readErr := func() error {
		for rows.Next() {
			var id int64
			var cell []byte
			var rank sql.NullInt64
			dest := []any{&id, &cell}
			if ranked {
				dest = append(dest, &rank)
			}
			if err := rows.Scan(dest...); err != nil {
				return errf(ErrCell, "column %s holds a value that is not a cell", col.Name)
			}
			sn.rowids = append(sn.rowids, id)
			req.Cells = append(req.Cells, cell)
			if ranked {
				r := enclproto.NoRank
				if rank.Valid && rank.Int64 >= 0 {
					r = rank.Int64
				}
				req.Ranks = append(req.Ranks, r)
			}
			size += len(cell) + 4
			if len(req.Cells) >= s.batch || size >= 16<<20 {
				flush(false)
			}
		}
		return rows.Err()
	}()
	if readErr == nil {
		flush(true)
	}
	close(batches)
	if err := <-sent; err != nil {
		return nil, err
	}
	if readErr != nil {
		// The enclave holds an unfinished column; the next load of this
		// name starts afresh.
		return nil, readErr
	}
	rows.Close()
	return lastOut, nil
}

// evalResult is an enclave answer that SQLite reads through aesql_match
// and aesql_rank.
type evalResult struct {
	rowids []int64
	bitmap []byte
	ranks  []uint32
}

var (
	results    sync.Map // int64 handle → *evalResult
	nextHandle atomic.Int64
)

func register(r *evalResult) int64 {
	h := nextHandle.Add(1)
	results.Store(h, r)
	return h
}

func (r *evalResult) pos(rowid int64) int {
	// rowids are ascending; dense tables hit directly.
	if n := len(r.rowids); n > 0 {
		if i := rowid - r.rowids[0]; i >= 0 && i < int64(n) && r.rowids[i] == rowid {
			return int(i)
		}
	}
	i := sort.Search(len(r.rowids), func(i int) bool { return r.rowids[i] >= rowid })
	if i < len(r.rowids) && r.rowids[i] == rowid {
		return i
	}
	return -1
}

func lookup(args []driver.Value) (*evalResult, int, error) {
	h, ok1 := args[0].(int64)
	id, ok2 := args[1].(int64)
	if !ok1 || !ok2 {
		return nil, -1, fmt.Errorf("aesql: bad arguments")
	}
	v, ok := results.Load(h)
	if !ok {
		return nil, -1, fmt.Errorf("aesql: no enclave result %d", h)
	}
	r := v.(*evalResult)
	return r, r.pos(id), nil
}

func init() {
	sqlite.MustRegisterScalarFunction("aesql_match", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		r, i, err := lookup(args)
		if err != nil {
			return nil, err
		}
		if i < 0 || r.bitmap == nil {
			return int64(0), nil
		}
		return int64(r.bitmap[i>>3] >> (i & 7) & 1), nil
	})
	sqlite.MustRegisterScalarFunction("aesql_rank", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		r, i, err := lookup(args)
		if err != nil {
			return nil, err
		}
		if i < 0 || r.ranks == nil || r.ranks[i] == 0 {
			return nil, nil
		}
		return int64(r.ranks[i]), nil
	})
}

// Special statements a column-encryption client sends:
//
//	SELECT * FROM aesql_describe_parameter_encryption($1)   -- $1: query text
//	SELECT * FROM aesql_attest($1)                           -- $1: 32-byte nonce
//	SELECT aesql_enclave_package($1, $2)                     -- $1: package, $2: query text
func (s *Server) special(ctx context.Context, c *connState, t []sqlq.Token, args []any) (*result, error, bool) {
	match := func(words ...string) bool {
		if len(t) != len(words) {
			return false
		}
		for i, w := range words {
			switch {
			case w == "$":
				if t[i].Kind != sqlq.Param {
					return false
				}
			case strings.ContainsAny(w, "*(),"):
				if t[i].Kind != sqlq.Op || t[i].Text != w {
					return false
				}
			default:
				if !t[i].Is(w) {
					return false
				}
			}
		}
		return true
	}
	arg := func(i int) any {
		if t[i].N-1 < len(args) {
			return args[t[i].N-1]
		}
		return nil
	}
	switch {
	case match("select", "*", "from", "aesql_describe_parameter_encryption", "(", "$", ")"):
		q, ok := arg(5).(string)
		if !ok {
			if b, isb := arg(5).([]byte); isb {
				q, ok = string(b), true
			}
		}
		if !ok {
			return nil, errf(ErrSyntax, "aesql_describe_parameter_encryption takes the query text"), true
		}
		r, err := s.describe(q)
		return r, err, true
	case match("select", "*", "from", "aesql_attest", "(", "$", ")"):
		nonce, ok := arg(5).([]byte)
		if !ok || len(nonce) != enclproto.NonceSize {
			return nil, errf(ErrSyntax, "aesql_attest takes a %d-byte bytea nonce", enclproto.NonceSize), true
		}
		if s.opts.Enclave == nil {
			return nil, errf(ErrEnclave, "this server has no enclave"), true
		}
		out, err := s.opts.Enclave.Call(ctx, enclproto.FnAttest, nonce)
		if err != nil {
			return nil, enclaveErr(err), true
		}
		if len(out) < enclproto.KeySize {
			return nil, errf(ErrEnclave, "short attestation answer"), true
		}
		return &result{cols: []column{{name: "enclave_key", oid: oidBytea}, {name: "evidence", oid: oidBytea}},
			rows: [][]any{{out[:enclproto.KeySize], out[enclproto.KeySize:]}}, tag: "SELECT 1"}, nil, true
	case match("select", "aesql_enclave_package", "(", "$", ",", "$", ")"):
		pkg, ok1 := arg(3).([]byte)
		q, ok2 := arg(5).(string)
		if !ok1 || !ok2 {
			return nil, errf(ErrSyntax, "aesql_enclave_package takes a bytea package and the query text"), true
		}
		if s.opts.Enclave == nil {
			return nil, errf(ErrEnclave, "this server has no enclave"), true
		}
		h, err := enclproto.ParsePackageHeader(pkg)
		if err != nil {
			return nil, errf(ErrSyntax, "%v", err), true
		}
		in := enclproto.AppendBytes32(nil, pkg)
		in = append(in, q...)
		if _, err := s.opts.Enclave.Call(ctx, enclproto.FnPackage, in); err != nil {
			return nil, enclaveErr(err), true
		}
		c.client, c.hasClient = h.ClientKey, true
		return &result{cols: []column{{name: "aesql_enclave_package", oid: oidInt8}}, rows: [][]any{{int64(1)}}, tag: "SELECT 1"}, nil, true
	}
	return nil, nil, false
}

// describeColumns are the columns of aesql_describe_parameter_encryption.
var describeColumns = []column{
	{name: "kind", oid: oidText}, {name: "ordinal", oid: oidInt8},
	{name: "cek", oid: oidText}, {name: "cek_value", oid: oidBytea}, {name: "key_algorithm", oid: oidText},
	{name: "cmk", oid: oidText}, {name: "provider", oid: oidText}, {name: "key_path", oid: oidText},
	{name: "enclave_computations", oid: oidInt8}, {name: "cmk_signature", oid: oidBytea},
	{name: "encryption_type", oid: oidInt8},
	{name: "type_kind", oid: oidInt8}, {name: "type_precision", oid: oidInt8}, {name: "type_scale", oid: oidInt8},
	{name: "type_length", oid: oidInt8}, {name: "type_code_page", oid: oidInt8},
}

// describe returns the encryption metadata of query's parameters, result
// columns and enclave keys: one row per CEK value.
func (s *Server) describe(query string) (*result, error) {
	r := &result{cols: describeColumns}
	st, err := sqlq.Analyze(query)
	if err != nil {
		return nil, errf(ErrSyntax, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.plan(st)
	if err != nil {
		return nil, err
	}
	add := func(kind string, ordinal int, c *colInfo, withType bool) {
		cek := s.cat.ceks[key(c.Def.Encryption.ColumnEncryptionKey)]
		if cek == nil {
			return
		}
		for _, v := range cek.Values {
			m := s.cat.cmks[key(v.CMK)]
			if m == nil {
				continue
			}
			row := []any{kind, int64(ordinal), cek.Name, v.Value, v.Algorithm, m.Name, m.Provider, m.KeyPath,
				b2i(m.Enclave), m.Signature, int64(c.Def.Encryption.Type)}
			if withType {
				row = append(row, int64(c.Type.Kind), int64(c.Type.Precision), int64(c.Type.Scale), int64(c.Type.Length), int64(c.Type.CodePage))
			} else {
				row = append(row, int64(0), int64(0), int64(0), int64(0), int64(0))
			}
			r.rows = append(r.rows, row)
		}
	}
	for n := 1; n <= st.Params; n++ {
		if c := p.params[n]; c != nil {
			add("param", n, c, true)
		}
	}
	for i := 0; i < max(p.ncols, 0); i++ {
		if c := p.result[i]; c != nil {
			add("column", i+1, c, true)
		}
	}
	seen := map[string]bool{}
	for _, op := range p.ops {
		k := key(op.col.Def.Encryption.ColumnEncryptionKey)
		if !seen[k] {
			seen[k] = true
			add("enclave", 0, op.col, false)
		}
	}
	r.tag = fmt.Sprintf("SELECT %d", len(r.rows))
	return r, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
