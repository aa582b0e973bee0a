package driver

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide-dev/confide/aesql"
	"github.com/confide-dev/confide/aesql/internal/enclproto"
	"github.com/confide-dev/confide/aesql/keystore"
	"github.com/confide-dev/confide/attest"
	"github.com/confide-dev/confide/attest/sgx"
	"github.com/confide-dev/confide/tee/sim"
)

// Name is the name the driver registers with database/sql.
const Name = "confide-aesql"

func init() { sql.Register(Name, &Driver{}) }

// Errors.
var (
	// ErrAttestation reports enclave evidence that did not verify, failed
	// the policy, or does not bind the enclave's key. No key was sent.
	ErrAttestation = errors.New("driver: enclave attestation failed")
	// ErrKeyStore reports a column master key whose provider has no key
	// store configured, or a CEK that does not unwrap.
	ErrKeyStore = errors.New("driver: column master key unavailable")
	// ErrMetadata reports encryption metadata from the server that is
	// inconsistent or whose CMK signature does not verify.
	ErrMetadata = errors.New("driver: bad encryption metadata")
	// ErrDecrypt reports a result cell that does not decrypt.
	ErrDecrypt = errors.New("driver: cell does not decrypt")
	// ErrValue reports a parameter that cannot be encrypted for its
	// column (wrong Go type, out of range).
	ErrValue = errors.New("driver: parameter does not fit its encrypted column")
	// ErrDSN reports a DSN that does not parse.
	ErrDSN = errors.New("driver: bad dsn")
)

// Verifier verifies enclave evidence (an SGX quote) and returns its claims.
type Verifier func(ctx context.Context, evidence []byte) (*attest.Claims, error)

// Config configures a Connector.
type Config struct {
	// ConnString is the PostgreSQL connection string. Required.
	ConnString string
	// ColumnEncryption enables Always Encrypted. Zero: parameters and
	// results pass as they are (encrypted columns read as bytea).
	ColumnEncryption bool
	// KeyStores maps a key store provider name (such as
	// keystore.FileStoreProvider) to its store.
	KeyStores map[string]keystore.KeyStore
	// Verify verifies the enclave's evidence. Nil: enclave computations
	// are refused with ErrAttestation.
	Verify Verifier
	// Policy appraises the verified claims. Its ReportData is ignored: the
	// driver checks the binding itself.
	Policy attest.Policy
	// CEKCacheTTL bounds how long an unwrapped CEK is cached. Zero: 2h;
	// negative: no caching.
	CEKCacheTTL time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Driver implements driver.Driver and driver.DriverContext.
type Driver struct{}

// Open implements driver.Driver.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector implements driver.DriverContext.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return NewConnector(*cfg)
}

// ParseDSN parses a DSN (see the package documentation) into a Config.
func ParseDSN(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, err)
	}
	q := u.Query()
	take := func(k string) string {
		v := q.Get(k)
		q.Del(k)
		return v
	}
	cfg := &Config{KeyStores: map[string]keystore.KeyStore{}}
	switch v := take("column_encryption"); strings.ToLower(v) {
	case "", "disabled":
	case "enabled":
		cfg.ColumnEncryption = true
	default:
		return nil, fmt.Errorf("%w: column_encryption=%q", ErrDSN, v)
	}
	if d := take("key_store"); d != "" {
		cfg.KeyStores[keystore.FileStoreProvider] = keystore.NewFileStore(d)
	}
	attestation, simDir := take("attestation"), take("sim_dir")
	signer, product, minSVN := take("enclave_signer"), take("enclave_product"), take("enclave_min_svn")
	if v := take("cek_cache_ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%w: cek_cache_ttl: %v", ErrDSN, err)
		}
		cfg.CEKCacheTTL = d
	}
	switch attestation {
	case "", "none":
	case "sim":
		if simDir == "" {
			return nil, fmt.Errorf("%w: attestation=sim needs sim_dir", ErrDSN)
		}
		st, err := sim.LoadState(simDir)
		if err != nil {
			return nil, fmt.Errorf("%w: sim_dir: %v", ErrDSN, err)
		}
		root, getter := st.RootCertificate(), st.Getter()
		cfg.Verify = func(ctx context.Context, ev []byte) (*attest.Claims, error) {
			return sgx.Verify(ctx, ev, sgx.Options{SimulatedRoots: []*x509.Certificate{root}, Getter: getter})
		}
		cfg.Policy.AllowSimulated = true
	default:
		return nil, fmt.Errorf("%w: attestation=%q (want sim or none)", ErrDSN, attestation)
	}
	if attestation != "" && attestation != "none" {
		if signer == "" {
			return nil, fmt.Errorf("%w: attestation needs enclave_signer", ErrDSN)
		}
		b, err := hex.DecodeString(signer)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: enclave_signer is not 32 bytes of hex", ErrDSN)
		}
		cfg.Policy.SignerID = b
		pid := uint64(0xA5)
		if product != "" {
			if pid, err = strconv.ParseUint(product, 10, 16); err != nil {
				return nil, fmt.Errorf("%w: enclave_product: %v", ErrDSN, err)
			}
		}
		p16 := uint16(pid)
		cfg.Policy.ProductID = &p16
		if minSVN != "" {
			n, err := strconv.ParseUint(minSVN, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("%w: enclave_min_svn: %v", ErrDSN, err)
			}
			cfg.Policy.MinSecurityVersion = uint16(n)
		}
	}
	u.RawQuery = q.Encode()
	cfg.ConnString = u.String()
	return cfg, nil
}

// Connector is a driver.Connector with a shared CEK cache.
type Connector struct {
	cfg   Config
	pgcfg *pgconn.Config

	mu   sync.Mutex
	ceks map[string]*cachedCEK

	descMu sync.Mutex
	descs  map[string]*description
}

// description is a cached answer of the server's describe call.
type description struct {
	params, cols map[int]*meta
	enclave      []*meta
	expires      time.Time
}

// Describe results are cached for DescribeTTL (as SqlClient caches query
// metadata), at most maxDescriptions of them; an error from the server
// that metadata could explain drops the entry and the statement is
// described again once.
const (
	DescribeTTL     = time.Minute
	maxDescriptions = 1024
)

type cachedCEK struct {
	raw     []byte
	key     *aesql.Key
	expires time.Time
}

// NewConnector returns a Connector for cfg.
func NewConnector(cfg Config) (*Connector, error) {
	pc, err := pgconn.ParseConfig(cfg.ConnString)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, err)
	}
	if cfg.CEKCacheTTL == 0 {
		cfg.CEKCacheTTL = 2 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Connector{cfg: cfg, pgcfg: pc, ceks: map[string]*cachedCEK{}, descs: map[string]*description{}}, nil
}

// PGConfig returns the pgconn config, so that callers can set DialFunc
// and the like before connecting.
func (c *Connector) PGConfig() *pgconn.Config { return c.pgcfg }

// Connect implements driver.Connector.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	pg, err := pgconn.ConnectConfig(ctx, c.pgcfg)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, pg: pg}, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return &Driver{} }

// Close zeroes the cached keys.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.ceks {
		e.key.Close()
		clear(e.raw)
		delete(c.ceks, k)
	}
	return nil
}

// meta is the encryption metadata of a parameter, result column or
// enclave key (one CEK with its values).
type meta struct {
	cek     string
	values  []cekValue
	encType int // 1 deterministic, 2 randomized
	typ     aesql.Type
}

type cekValue struct {
	value                  []byte
	algorithm              string
	cmk, provider, keyPath string
	enclave                bool
	signature              []byte
}

// cek returns the unwrapped key of m, from the cache when fresh. For keys
// used in enclave computations the CMK metadata signature must verify.
func (c *Connector) cek(ctx context.Context, m *meta, forEnclave bool) (*cachedCEK, error) {
	var lastErr error
	for _, v := range m.values {
		store := c.cfg.KeyStores[v.provider]
		if store == nil {
			lastErr = fmt.Errorf("%w: no key store for provider %q (column master key %s)", ErrKeyStore, v.provider, v.cmk)
			continue
		}
		if forEnclave {
			if !v.enclave {
				return nil, fmt.Errorf("%w: column master key %s does not allow enclave computations", ErrMetadata, v.cmk)
			}
			if err := store.VerifyCMKMetadata(ctx, v.keyPath, true, v.signature); err != nil {
				return nil, fmt.Errorf("%w: column master key %s: enclave computations signature: %v", ErrMetadata, v.cmk, err)
			}
		}
		h := sha256.Sum256(v.value)
		ck := v.provider + "\x00" + v.keyPath + "\x00" + string(h[:])
		now := c.cfg.Now()
		c.mu.Lock()
		e := c.ceks[ck]
		if e != nil && now.Before(e.expires) {
			c.mu.Unlock()
			return e, nil
		}
		if e != nil {
			e.key.Close()
			clear(e.raw)
			delete(c.ceks, ck)
		}
		c.mu.Unlock()
		raw, err := store.UnwrapKey(ctx, v.keyPath, v.algorithm, v.value)
		if err != nil {
			lastErr = fmt.Errorf("%w: column encryption key %s: %v", ErrKeyStore, m.cek, err)
			continue
		}
		k, err := aesql.NewKey(raw)
		if err != nil {
			clear(raw)
			lastErr = fmt.Errorf("%w: column encryption key %s: %v", ErrKeyStore, m.cek, err)
			continue
		}
		e = &cachedCEK{raw: raw, key: k, expires: now.Add(c.cfg.CEKCacheTTL)}
		if c.cfg.CEKCacheTTL > 0 {
			c.mu.Lock()
			c.ceks[ck] = e
			c.mu.Unlock()
		}
		return e, nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: column encryption key %s has no value", ErrMetadata, m.cek)
	}
	return nil, lastErr
}

// conn is one connection.
type conn struct {
	c   *Connector
	pg  *pgconn.PgConn
	ses *enclaveSession
}

type enclaveSession struct {
	priv       *ecdh.PrivateKey
	nonce      [enclproto.NonceSize]byte
	enclaveKey []byte
	key        []byte
	seq        uint64
	sent       map[string]bool
	// queries the enclave holds as authorised in this session.
	queries map[string]bool
}

func (cn *conn) Prepare(query string) (driver.Stmt, error) { return &stmt{cn: cn, query: query}, nil }

func (cn *conn) Close() error {
	if cn.ses != nil {
		clear(cn.ses.key)
	}
	return cn.pg.Close(context.Background())
}

func (cn *conn) Begin() (driver.Tx, error) {
	return cn.BeginTx(context.Background(), driver.TxOptions{})
}

func (cn *conn) BeginTx(ctx context.Context, _ driver.TxOptions) (driver.Tx, error) {
	if err := cn.simple(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	return &tx{cn: cn}, nil
}

func (cn *conn) simple(ctx context.Context, q string) error {
	_, err := cn.pg.ExecParams(ctx, q, nil, nil, nil, nil).Close()
	return err
}

type tx struct{ cn *conn }

func (t *tx) Commit() error   { return t.cn.simple(context.Background(), "COMMIT") }
func (t *tx) Rollback() error { return t.cn.simple(context.Background(), "ROLLBACK") }

// IsValid implements driver.Validator.
func (cn *conn) IsValid() bool { return !cn.pg.IsClosed() }

// ResetSession implements driver.SessionResetter.
func (cn *conn) ResetSession(ctx context.Context) error {
	if cn.pg.IsClosed() {
		return driver.ErrBadConn
	}
	return nil
}

type stmt struct {
	cn    *conn
	query string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.cn.ExecContext(context.Background(), s.query, named(args))
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.cn.QueryContext(context.Background(), s.query, named(args))
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.cn.ExecContext(ctx, s.query, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.cn.QueryContext(ctx, s.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

// CheckNamedValue implements driver.NamedValueChecker: any value passes
// to the encoder, which knows the column it is for.
func (cn *conn) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case int, int8, int16, int32, uint8, uint16, uint32, uint64, float32:
		return nil
	case driver.Valuer:
		x, err := v.Value()
		nv.Value = x
		return err
	}
	return driver.ErrSkip
}

type result struct{ n int64 }

func (r result) LastInsertId() (int64, error) { return 0, errors.New("driver: no insert IDs") }
func (r result) RowsAffected() (int64, error) { return r.n, nil }

func (cn *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	rs, err := cn.run(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return result{n: rs.tag.RowsAffected()}, nil
}

func (cn *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rs, err := cn.run(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// describe asks the server for the encryption metadata of query.
func (cn *conn) describe(ctx context.Context, query string) (params, cols map[int]*meta, enclave []*meta, err error) {
	rr := cn.pg.ExecParams(ctx, "SELECT * FROM aesql_describe_parameter_encryption($1)", [][]byte{[]byte(query)}, []uint32{25}, nil, nil)
	params, cols = map[int]*meta{}, map[int]*meta{}
	byCEK := map[string]*meta{}
	bad := func(format string, args ...any) {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrMetadata, fmt.Sprintf(format, args...))
		}
	}
	for rr.NextRow() {
		v := rr.Values()
		if len(v) != 16 {
			bad("%d describe columns", len(v))
			continue
		}
		num := func(i int) int64 {
			n, e := strconv.ParseInt(string(v[i]), 10, 64)
			if e != nil {
				bad("column %d is not a number", i)
			}
			return n
		}
		by := func(i int) []byte {
			if v[i] == nil {
				return nil
			}
			b, e := decodeBytea(v[i])
			if e != nil {
				bad("column %d is not bytea", i)
			}
			return b
		}
		kind, ordinal, cek := string(v[0]), int(num(1)), string(v[2])
		cv := cekValue{value: by(3), algorithm: string(v[4]), cmk: string(v[5]), provider: string(v[6]),
			keyPath: string(v[7]), enclave: num(8) == 1, signature: by(9)}
		m := &meta{cek: cek, encType: int(num(10)), typ: aesql.Type{Kind: aesql.Kind(num(11)), Precision: uint8(num(12)),
			Scale: uint8(num(13)), Length: int(num(14)), CodePage: int(num(15))}}
		var target map[int]*meta
		switch kind {
		case "param":
			target = params
		case "column":
			target = cols
		case "enclave":
			if e := byCEK[cek]; e != nil {
				e.values = append(e.values, cv)
			} else {
				m.values = []cekValue{cv}
				byCEK[cek] = m
				enclave = append(enclave, m)
			}
			continue
		default:
			bad("row kind %q", kind)
			continue
		}
		if e := target[ordinal]; e != nil {
			if e.cek != cek {
				bad("two keys for %s %d", kind, ordinal)
			}
			e.values = append(e.values, cv)
			continue
		}
		m.values = []cekValue{cv}
		target[ordinal] = m
	}
	if _, cerr := rr.Close(); cerr != nil {
		return nil, nil, nil, cerr
	}
	return params, cols, enclave, err
}

func decodeBytea(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
		return nil, fmt.Errorf("not hex bytea")
	}
	return hex.DecodeString(string(b[2:]))
}

// attest attests the server's enclave once per connection.
func (cn *conn) attest(ctx context.Context) (*enclaveSession, error) {
	if cn.ses != nil {
		return cn.ses, nil
	}
	if cn.c.cfg.Verify == nil {
		return nil, fmt.Errorf("%w: the statement needs enclave computations and no attestation is configured", ErrAttestation)
	}
	s := &enclaveSession{sent: map[string]bool{}, queries: map[string]bool{}}
	if _, err := io.ReadFull(rand.Reader, s.nonce[:]); err != nil {
		return nil, err
	}
	rr := cn.pg.ExecParams(ctx, "SELECT * FROM aesql_attest($1)", [][]byte{s.nonce[:]}, []uint32{17}, []int16{1}, []int16{1})
	var key, ev []byte
	for rr.NextRow() {
		v := rr.Values()
		if len(v) == 2 {
			key, ev = append([]byte{}, v[0]...), append([]byte{}, v[1]...)
		}
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	if len(key) != enclproto.KeySize || len(ev) == 0 {
		return nil, fmt.Errorf("%w: no evidence from the server", ErrAttestation)
	}
	claims, err := cn.c.cfg.Verify(ctx, ev)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	pol := cn.c.cfg.Policy
	pol.ReportData = nil
	if err := pol.Check(claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	want := enclproto.ReportData(s.nonce[:], key)
	if subtle.ConstantTimeCompare(claims.ReportData, want[:]) != 1 {
		return nil, fmt.Errorf("%w: evidence does not bind the enclave key to this nonce", ErrAttestation)
	}
	peer, err := ecdh.X25519().NewPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAttestation, err)
	}
	if s.priv, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	s.enclaveKey = key
	if s.key, err = enclproto.SessionKey(s.priv, peer, s.nonce[:], s.priv.PublicKey().Bytes(), key); err != nil {
		return nil, err
	}
	cn.ses = s
	return s, nil
}

// sendKeys seals the CEKs the statement needs (those not yet sent in
// this session) for query and hands them to the enclave, unless the
// enclave already holds them and the query from this session.
func (cn *conn) sendKeys(ctx context.Context, query string, ms []*meta) error {
	if s := cn.ses; s != nil && s.queries[query] {
		all := true
		for _, m := range ms {
			all = all && s.sent[m.cek]
		}
		if all {
			return nil
		}
	}
	var ceks []enclproto.CEK
	for _, m := range ms {
		e, err := cn.c.cek(ctx, m, true)
		if err != nil {
			return err
		}
		ceks = append(ceks, enclproto.CEK{Name: m.cek, Key: e.raw})
	}
	s, err := cn.attest(ctx)
	if err != nil {
		return err
	}
	var send []enclproto.CEK
	for _, c := range ceks {
		if !s.sent[c.Name] {
			send = append(send, c)
		}
	}
	s.seq++
	h := enclproto.Header{Nonce: s.nonce, Seq: s.seq}
	copy(h.ClientKey[:], s.priv.PublicKey().Bytes())
	pkg, err := enclproto.SealPackage(s.key, h, query, send)
	if err != nil {
		return err
	}
	rr := cn.pg.ExecParams(ctx, "SELECT aesql_enclave_package($1, $2)", [][]byte{pkg, []byte(query)}, []uint32{17, 25}, []int16{1, 0}, nil)
	if _, err := rr.Close(); err != nil {
		return err
	}
	for _, c := range send {
		s.sent[c.Name] = true
	}
	if len(s.queries) >= maxSessionQueries {
		clear(s.queries)
	}
	s.queries[query] = true
	return nil
}

// maxSessionQueries is how many queries the driver remembers as
// authorised; the enclave keeps as many (sqlenclave.MaxQueries).
const maxSessionQueries = 128

func (c *Connector) description(query string) *description {
	c.descMu.Lock()
	defer c.descMu.Unlock()
	d := c.descs[query]
	if d != nil && c.cfg.Now().Before(d.expires) {
		return d
	}
	delete(c.descs, query)
	return nil
}

func (c *Connector) remember(query string, d *description) {
	c.descMu.Lock()
	defer c.descMu.Unlock()
	if len(c.descs) >= maxDescriptions {
		clear(c.descs)
	}
	d.expires = c.cfg.Now().Add(DescribeTTL)
	c.descs[query] = d
}

func (c *Connector) forget(query string) {
	c.descMu.Lock()
	defer c.descMu.Unlock()
	delete(c.descs, query)
}

// retryable reports a server error raised before the statement ran that
// stale metadata or an expired enclave session explains.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "42804", "0A000", "22000":
		return true
	case "55000":
		return strings.Contains(pe.Message, "no session") || strings.Contains(pe.Message, "not held")
	}
	return false
}

// run runs query with args, encrypting and decrypting as configured.
func (cn *conn) run(ctx context.Context, query string, args []driver.NamedValue) (*rows, error) {
	if !cn.c.cfg.ColumnEncryption {
		return cn.run1(ctx, query, args, nil)
	}
	d := cn.c.description(query)
	retried := false
	for {
		if d == nil {
			params, cols, enclave, err := cn.describe(ctx, query)
			if err != nil {
				return nil, err
			}
			d = &description{params: params, cols: cols, enclave: enclave}
			cn.c.remember(query, d)
		}
		if len(d.enclave) > 0 {
			if err := cn.sendKeys(ctx, query, d.enclave); err != nil {
				return nil, err
			}
		}
		rs, err := cn.run1(ctx, query, args, d)
		if err != nil && !retried && retryable(err) {
			// Cached metadata or the enclave's session may be stale: try
			// once more with both fresh.
			cn.c.forget(query)
			if cn.ses != nil {
				delete(cn.ses.queries, query)
				clear(cn.ses.sent)
			}
			d, retried = nil, true
			continue
		}
		return rs, err
	}
}

func (cn *conn) run1(ctx context.Context, query string, args []driver.NamedValue, d *description) (*rows, error) {
	var params, cols map[int]*meta
	if d != nil {
		params, cols = d.params, d.cols
	}
	vals := make([][]byte, len(args))
	oids := make([]uint32, len(args))
	formats := make([]int16, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, fmt.Errorf("driver: named parameters are not supported; use $%d", i+1)
		}
		n := a.Ordinal
		if m := params[n]; m != nil {
			cell, err := cn.encrypt(ctx, m, a.Value, n)
			if err != nil {
				return nil, err
			}
			vals[i], oids[i], formats[i] = cell, 17, 1
			continue
		}
		v, oid, f, err := encodePlain(a.Value)
		if err != nil {
			return nil, fmt.Errorf("driver: parameter $%d: %w", n, err)
		}
		vals[i], oids[i], formats[i] = v, oid, f
	}
	rr := cn.pg.ExecParams(ctx, query, vals, oids, formats, nil)
	fds := rr.FieldDescriptions()
	rs := &rows{cn: cn, fields: append([]pgconn.FieldDescription{}, fds...)}
	for rr.NextRow() {
		raw := rr.Values()
		row := make([]driver.Value, len(raw))
		for i, b := range raw {
			if b == nil {
				continue
			}
			if m := cols[i+1]; m != nil {
				v, err := cn.decrypt(ctx, m, b)
				if err != nil {
					rr.Close()
					return nil, fmt.Errorf("%w: column %s: %w", ErrDecrypt, rs.fields[i].Name, err)
				}
				row[i] = v
				continue
			}
			v, err := decodePlain(b, rs.fields[i].DataTypeOID)
			if err != nil {
				rr.Close()
				return nil, err
			}
			row[i] = v
		}
		rs.rows = append(rs.rows, row)
	}
	tag, err := rr.Close()
	if err != nil {
		return nil, err
	}
	rs.tag = tag
	return rs, nil
}

func (cn *conn) encrypt(ctx context.Context, m *meta, v any, n int) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	e, err := cn.c.cek(ctx, m, false)
	if err != nil {
		return nil, err
	}
	plain, err := aesql.Normalize(m.typ, v)
	if err != nil {
		return nil, fmt.Errorf("%w: $%d: %w", ErrValue, n, err)
	}
	defer clear(plain)
	return e.key.Encrypt(plain, m.encType == 1)
}

func (cn *conn) decrypt(ctx context.Context, m *meta, b []byte) (driver.Value, error) {
	cell, err := decodeBytea(b)
	if err != nil {
		return nil, err
	}
	e, err := cn.c.cek(ctx, m, false)
	if err != nil {
		return nil, err
	}
	plain, err := e.key.Decrypt(cell)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	v, err := aesql.Denormalize(m.typ, plain)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Duration:
		return int64(x), nil
	case [16]byte:
		return x[:], nil
	}
	return v, nil
}

// encodePlain encodes an unencrypted parameter.
func encodePlain(v any) ([]byte, uint32, int16, error) {
	switch x := v.(type) {
	case nil:
		return nil, 0, 0, nil
	case int64:
		return strconv.AppendInt(nil, x, 10), 20, 0, nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), 20, 0, nil
	case int32:
		return strconv.AppendInt(nil, int64(x), 10), 20, 0, nil
	case float64:
		return strconv.AppendFloat(nil, x, 'g', -1, 64), 701, 0, nil
	case bool:
		if x {
			return []byte("1"), 20, 0, nil
		}
		return []byte("0"), 20, 0, nil
	case string:
		return []byte(x), 25, 0, nil
	case []byte:
		return x, 17, 1, nil
	case time.Time:
		return []byte(x.Format(time.RFC3339Nano)), 25, 0, nil
	}
	return nil, 0, 0, fmt.Errorf("unsupported type %T", v)
}

func decodePlain(b []byte, oid uint32) (driver.Value, error) {
	switch oid {
	case 20, 21, 23:
		return strconv.ParseInt(string(b), 10, 64)
	case 700, 701:
		return strconv.ParseFloat(string(b), 64)
	case 17:
		return decodeBytea(b)
	case 16:
		return string(b) == "t", nil
	case 1700:
		// numeric: a float when exact enough, else its text.
		if f, err := strconv.ParseFloat(string(b), 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == string(b) {
			return f, nil
		}
	}
	return string(b), nil
}

// rows is a buffered result.
type rows struct {
	cn     *conn
	fields []pgconn.FieldDescription
	rows   [][]driver.Value
	next   int
	tag    pgconn.CommandTag
}

func (r *rows) Columns() []string {
	out := make([]string, len(r.fields))
	for i, f := range r.fields {
		out[i] = f.Name
	}
	return out
}

func (r *rows) Close() error { return nil }

// ColumnTypeDatabaseTypeName implements
// driver.RowsColumnTypeDatabaseTypeName: the PostgreSQL type name of the
// column's OID ("" when unknown).
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	switch r.fields[i].DataTypeOID {
	case 16:
		return "BOOL"
	case 17:
		return "BYTEA"
	case 20:
		return "INT8"
	case 21:
		return "INT2"
	case 23:
		return "INT4"
	case 25:
		return "TEXT"
	case 700:
		return "FLOAT4"
	case 701:
		return "FLOAT8"
	case 1043:
		return "VARCHAR"
	case 1082:
		return "DATE"
	case 1114:
		return "TIMESTAMP"
	case 1700:
		return "NUMERIC"
	}
	return ""
}

func (r *rows) Next(dest []driver.Value) error {
	if r.next >= len(r.rows) {
		return io.EOF
	}
	copy(dest, r.rows[r.next])
	r.next++
	return nil
}
