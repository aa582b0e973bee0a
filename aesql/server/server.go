package server

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	aesqldriver "github.com/confide-dev/confide/aesql/driver"

	"github.com/confide-dev/confide/aesql/internal/sqlq"
)

// Options configure New.
type Options struct {
	// Path is the SQLite database file. Empty: a private in-memory
	// database (unless DatabaseURL is set).
	Path string
	// DatabaseURL, if set, stores the data in PostgreSQL instead
	// (postgres://…). Statements that the server passes through must then
	// be PostgreSQL's.
	DatabaseURL string
	// Enclave evaluates predicates on randomized columns. Nil: such
	// queries fail with ErrEnclave.
	Enclave Enclave
	// Logger receives connection errors. Nil: discarded.
	Logger *slog.Logger
	// LoadBatch is the number of cells per load ecall. Zero: 65536.
	LoadBatch int
	// MaxMessage bounds a client message. Zero: 64 MiB.
	MaxMessage int
}

// Server is a confidential SQL server.
type Server struct {
	opts  Options
	log   *slog.Logger
	db    *sql.DB
	d     dialect
	batch int

	mu  sync.Mutex // catalog
	cat *catalog

	// Table versions (tx.go).
	genMu  sync.Mutex
	genSeq uint64
	vers   map[string]*tableVersion
	allVer tableVersion // writes to every table

	// Shared snapshots by column; loadMu serialises their loads.
	loadMu   sync.Mutex
	snapMu   sync.Mutex
	snaps    map[string]*snapshot
	nextSnap atomic.Uint64
	connSeq  atomic.Uint64

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

var memSeq atomic.Uint64

// New opens the database and its catalog.
func New(ctx context.Context, opts Options) (*Server, error) {
	var d dialect
	driverName, dsn := "sqlite", opts.Path
	switch {
	case opts.DatabaseURL != "":
		if opts.Path != "" {
			return nil, errors.New("server: Options.Path and DatabaseURL are exclusive")
		}
		d.postgres = true
		// The confide-aesql driver without column encryption is a plain
		// PostgreSQL driver.
		driverName, dsn = aesqldriver.Name, opts.DatabaseURL
	case dsn == "":
		dsn = fmt.Sprintf("file:aesql-mem-%d?mode=memory&cache=shared&_pragma=busy_timeout(10000)", memSeq.Add(1))
	default:
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if opts.Path == "" && !d.postgres {
		// Keep the shared in-memory database alive.
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(0)
	}
	for _, stmt := range strings.Split(d.catalogDDL(), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("server: catalog: %w", err)
		}
	}
	cat, err := loadCatalog(ctx, db, d)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("server: catalog: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, db: db, d: d, cat: cat, vers: map[string]*tableVersion{}, snaps: map[string]*snapshot{},
		conns: map[net.Conn]struct{}{}, batch: opts.LoadBatch}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.batch <= 0 {
		s.batch = 1 << 16
	}
	if s.opts.MaxMessage <= 0 {
		s.opts.MaxMessage = 64 << 20
	}
	return s, nil
}

// DB returns the server's database (for tests and benchmarks that load
// data directly).
func (s *Server) DB() *sql.DB { return s.db }

// Serve accepts connections on l until it is closed.
func (s *Server) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			s.connMu.Lock()
			closed := s.closed
			s.connMu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		s.connMu.Lock()
		if s.closed {
			s.connMu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.connMu.Unlock()
		go func() {
			defer s.wg.Done()
			if err := s.ServeConn(context.Background(), c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Info("connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			s.connMu.Lock()
			delete(s.conns, c)
			s.connMu.Unlock()
		}()
	}
}

// Close closes every connection and the database.
func (s *Server) Close() error {
	s.connMu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

// connState is one client connection.
type connState struct {
	id        uint64
	conn      *sql.Conn
	be        *pgproto3.Backend
	client    [32]byte
	hasClient bool
	stmts     map[string]*prepared
	portals   map[string]*portal
	// PostgreSQL storage: the enclave answer being rewritten and the
	// parameters that carry answers.
	pgResult *evalResult
	extra    []any
	// tx is the client's explicit transaction (nil outside one).
	tx *txState
	// The statement being run: whether it runs in a transaction the
	// server opened for it, on private snapshots (stmtSnaps), and the
	// snapshots it used.
	own       bool
	stmtSnaps map[string]*snapshot
	used      []*snapshot
}

type prepared struct {
	query string
	oids  []uint32
	// described holds the row shape sent for Describe of the statement;
	// its executions then use the same types.
	described []column
}

type portal struct {
	stmt    *prepared
	args    []any
	formats []int16
	res     *result
	sent    int
	err     error
}

// ServeConn speaks the PostgreSQL protocol on one connection until the
// client terminates or the connection fails.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	defer nc.Close()
	be := pgproto3.NewBackend(nc, nc)
	be.SetMaxBodyLen(s.opts.MaxMessage)
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := startup(be, nc); err != nil {
		return err
	}
	nc.SetDeadline(time.Time{})
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A client that leaves inside a transaction must not hand it to
		// the next user of this database connection.
		conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		conn.Close()
	}()
	c := &connState{id: s.connSeq.Add(1), conn: conn, be: be, stmts: map[string]*prepared{}, portals: map[string]*portal{}}
	return s.loop(ctx, c)
}

func startup(be *pgproto3.Backend, nc net.Conn) error {
	for {
		m, err := be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := nc.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.StartupMessage:
			be.Send(&pgproto3.AuthenticationOk{})
			for _, p := range [][2]string{{"server_version", "16.0 (confide aesql)"}, {"server_encoding", "UTF8"},
				{"client_encoding", "UTF8"}, {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"},
				{"standard_conforming_strings", "on"}, {"TimeZone", "UTC"}, {"application_name", m.Parameters["application_name"]}} {
				be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
			}
			be.Send(&pgproto3.BackendKeyData{ProcessID: uint32(memSeq.Add(1)), SecretKey: []byte{0, 0, 0, 0}})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			return be.Flush()
		case *pgproto3.CancelRequest:
			return io.EOF
		default:
			return fmt.Errorf("server: unexpected startup message %T", m)
		}
	}
}

func (s *Server) sendError(be *pgproto3.Backend, err error) {
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) {
		msg = e.Err.Error() + ": " + e.Msg
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: SQLState(err), Message: msg})
}

func (s *Server) loop(ctx context.Context, c *connState) error {
	be := c.be
	skipToSync := false
	for {
		m, err := be.Receive()
		if err != nil {
			return err
		}
		if skipToSync {
			switch m.(type) {
			case *pgproto3.Sync:
				skipToSync = false
			case *pgproto3.Terminate:
				return nil
			default:
				continue
			}
		}
		var failed error
		switch m := m.(type) {
		case *pgproto3.Query:
			s.simpleQuery(ctx, c, m.String)
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Parse:
			if _, err := sqlq.Lex(m.Query); err != nil {
				failed = errf(ErrSyntax, "%v", err)
				break
			}
			c.stmts[m.Name] = &prepared{query: m.Query, oids: append([]uint32{}, m.ParameterOIDs...)}
			be.Send(&pgproto3.ParseComplete{})
		case *pgproto3.Bind:
			p := c.stmts[m.PreparedStatement]
			if p == nil {
				failed = errf(ErrUndefined, "prepared statement %q does not exist", m.PreparedStatement)
				break
			}
			args, err := decodeParams(p, m)
			if err != nil {
				failed = err
				break
			}
			c.portals[m.DestinationPortal] = &portal{stmt: p, args: args, formats: m.ResultFormatCodes}
			be.Send(&pgproto3.BindComplete{})
		case *pgproto3.Describe:
			failed = s.describeMsg(ctx, c, m)
		case *pgproto3.Execute:
			failed = s.executeMsg(ctx, c, m)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(c.stmts, m.Name)
			} else {
				delete(c.portals, m.Name)
			}
			be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			delete(c.portals, "")
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			return nil
		default:
			failed = errf(ErrUnsupported, "message %T", m)
		}
		if failed != nil {
			s.sendError(be, failed)
			skipToSync = true
		}
		if err := be.Flush(); err != nil {
			return err
		}
	}
}

// emptyQuery reports a query of only white space, comments and
// semicolons.
func emptyQuery(q string) bool {
	toks, err := sqlq.Lex(q)
	return err == nil && len(trimSemicolons(toks)) == 0
}

// splitStatements splits a simple query at top-level semicolons.
func splitStatements(q string) ([]string, error) {
	toks, err := sqlq.Lex(q)
	if err != nil {
		return nil, err
	}
	var out []string
	start := 0
	for _, t := range toks {
		if t.Kind == sqlq.Op && t.Text == ";" {
			if s := strings.TrimSpace(q[start:t.Pos]); s != "" {
				out = append(out, q[start:t.Pos])
			}
			start = t.End
		}
	}
	if len(toks) > 0 {
		if s := strings.TrimSpace(q[start:]); s != "" && start < toks[len(toks)-1].End {
			out = append(out, q[start:])
		}
	}
	return out, nil
}

func (s *Server) simpleQuery(ctx context.Context, c *connState, q string) {
	stmts, err := splitStatements(q)
	if err != nil {
		s.sendError(c.be, errf(ErrSyntax, "%v", err))
		return
	}
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, st := range stmts {
		r, err := s.execute(ctx, c, st, nil)
		if err != nil {
			s.sendError(c.be, err)
			return
		}
		if r.cols != nil {
			c.be.Send(rowDescription(r, nil))
			for _, row := range r.rows {
				dr, err := dataRow(r, row, nil)
				if err != nil {
					s.sendError(c.be, err)
					return
				}
				c.be.Send(dr)
			}
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(r.tag)})
	}
}

func (s *Server) run(ctx context.Context, c *connState, p *portal) {
	if p.res != nil || p.err != nil {
		return
	}
	if emptyQuery(p.stmt.query) {
		p.res = &result{}
		return
	}
	p.res, p.err = s.execute(ctx, c, p.stmt.query, p.args)
	if p.err == nil && p.res.cols != nil && len(p.stmt.described) == len(p.res.cols) {
		for i := range p.res.cols {
			p.res.cols[i].oid = p.stmt.described[i].oid
		}
	}
}

func (s *Server) describeMsg(ctx context.Context, c *connState, m *pgproto3.Describe) error {
	if m.ObjectType == 'S' {
		p := c.stmts[m.Name]
		if p == nil {
			return errf(ErrUndefined, "prepared statement %q does not exist", m.Name)
		}
		oids, cols, err := s.describeStatement(ctx, c, p.query)
		if err != nil {
			return err
		}
		for i := range oids {
			if i < len(p.oids) && p.oids[i] != 0 {
				oids[i] = p.oids[i]
			}
		}
		// Later Binds decode parameters by these types.
		p.oids = oids
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: oids})
		if cols == nil {
			c.be.Send(&pgproto3.NoData{})
			return nil
		}
		p.described = cols
		c.be.Send(rowDescription(&result{cols: cols}, nil))
		return nil
	}
	p := c.portals[m.Name]
	if p == nil {
		return errf(ErrUndefined, "portal %q does not exist", m.Name)
	}
	s.run(ctx, c, p)
	if p.err != nil {
		return p.err
	}
	if p.res.cols == nil {
		c.be.Send(&pgproto3.NoData{})
		return nil
	}
	c.be.Send(rowDescription(p.res, p.formats))
	return nil
}

func (s *Server) executeMsg(ctx context.Context, c *connState, m *pgproto3.Execute) error {
	p := c.portals[m.Portal]
	if p == nil {
		return errf(ErrUndefined, "portal %q does not exist", m.Portal)
	}
	s.run(ctx, c, p)
	if p.err != nil {
		return p.err
	}
	if emptyQuery(p.stmt.query) {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	}
	for n := uint32(0); p.sent < len(p.res.rows); n++ {
		if m.MaxRows > 0 && n == m.MaxRows {
			c.be.Send(&pgproto3.PortalSuspended{})
			return nil
		}
		dr, err := dataRow(p.res, p.res.rows[p.sent], p.formats)
		if err != nil {
			return err
		}
		c.be.Send(dr)
		p.sent++
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(p.res.tag)})
	return nil
}

func format(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

func rowDescription(r *result, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{}
	for i, c := range r.cols {
		size := int16(-1)
		switch c.oid {
		case oidInt8, oidFloat8:
			size = 8
		}
		rd.Fields = append(rd.Fields, pgproto3.FieldDescription{Name: []byte(c.name), TableAttributeNumber: c.attnum,
			DataTypeOID: c.oid, DataTypeSize: size, TypeModifier: -1, Format: format(formats, i)})
	}
	return rd
}

func dataRow(r *result, row []any, formats []int16) (*pgproto3.DataRow, error) {
	dr := &pgproto3.DataRow{Values: make([][]byte, len(row))}
	for i, v := range row {
		if v == nil {
			continue
		}
		b, err := encodeValue(v, r.cols[i].oid, format(formats, i))
		if err != nil {
			return nil, err
		}
		dr.Values[i] = b
	}
	return dr, nil
}

func encodeValue(v any, oid uint32, f int16) ([]byte, error) {
	if f == 1 {
		switch oid {
		case oidBool:
			if x, ok := v.(bool); ok {
				if x {
					return []byte{1}, nil
				}
				return []byte{0}, nil
			}
		case oidBytea, oidText, oidVarchar:
			switch x := v.(type) {
			case []byte:
				return x, nil
			case string:
				return []byte(x), nil
			}
		case oidInt8:
			switch x := v.(type) {
			case int64:
				return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
			case float64:
				if x == math.Trunc(x) {
					return binary.BigEndian.AppendUint64(nil, uint64(int64(x))), nil
				}
			case string:
				if n, err := strconv.ParseInt(x, 10, 64); err == nil {
					return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
				}
			}
		case oidFloat8:
			switch x := v.(type) {
			case float64:
				return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), nil
			case int64:
				return binary.BigEndian.AppendUint64(nil, math.Float64bits(float64(x))), nil
			case string:
				if f, err := strconv.ParseFloat(x, 64); err == nil {
					return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)), nil
				}
			}
		}
		if f == 1 && (oid == oidText || oid == oidVarchar) {
			return encodeValue(v, oid, 0)
		}
		return nil, errf(ErrUnsupported, "binary format for a %T value of type %d", v, oid)
	}
	switch x := v.(type) {
	case []byte:
		if oid == oidBytea {
			return []byte(`\x` + hex.EncodeToString(x)), nil
		}
		return x, nil
	case string:
		return []byte(x), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case float64:
		return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
	case bool:
		if x {
			return []byte("t"), nil
		}
		return []byte("f"), nil
	case time.Time:
		return []byte(x.Format("2006-01-02 15:04:05.999999999Z07:00")), nil
	}
	return []byte(fmt.Sprint(v)), nil
}

// pgEpoch is the zero of PostgreSQL's binary date and timestamp.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeParams converts bound parameters to SQLite values: bytea as
// []byte, integer and float types as numbers, everything else as text.
func decodeParams(p *prepared, m *pgproto3.Bind) ([]any, error) {
	args := make([]any, len(m.Parameters))
	for i, raw := range m.Parameters {
		if raw == nil {
			continue
		}
		var oid uint32
		if i < len(p.oids) {
			oid = p.oids[i]
		}
		f := format(m.ParameterFormatCodes, i)
		if f == 1 {
			switch oid {
			case oidInt8, oidInt4, oidInt2:
				if len(raw) != 8 && len(raw) != 4 && len(raw) != 2 {
					return nil, errf(ErrSyntax, "parameter $%d: binary integer of %d bytes", i+1, len(raw))
				}
				var n int64
				switch len(raw) {
				case 8:
					n = int64(binary.BigEndian.Uint64(raw))
				case 4:
					n = int64(int32(binary.BigEndian.Uint32(raw)))
				case 2:
					n = int64(int16(binary.BigEndian.Uint16(raw)))
				}
				args[i] = n
			case oidFloat8:
				if len(raw) != 8 {
					return nil, errf(ErrSyntax, "parameter $%d: binary float8 of %d bytes", i+1, len(raw))
				}
				args[i] = math.Float64frombits(binary.BigEndian.Uint64(raw))
			case oidText, oidVarchar:
				args[i] = string(raw)
			case oidDate:
				if len(raw) != 4 {
					return nil, errf(ErrSyntax, "parameter $%d: binary date of %d bytes", i+1, len(raw))
				}
				args[i] = pgEpoch.AddDate(0, 0, int(int32(binary.BigEndian.Uint32(raw)))).Format("2006-01-02")
			case oidTimestamp:
				if len(raw) != 8 {
					return nil, errf(ErrSyntax, "parameter $%d: binary timestamp of %d bytes", i+1, len(raw))
				}
				us := int64(binary.BigEndian.Uint64(raw))
				args[i] = pgEpoch.Add(time.Duration(us) * time.Microsecond).Format("2006-01-02 15:04:05.999999")
			default:
				args[i] = append([]byte{}, raw...)
			}
			continue
		}
		text := string(raw)
		switch oid {
		case oidBytea:
			if !strings.HasPrefix(text, `\x`) {
				return nil, errf(ErrSyntax, "parameter $%d: bytea text must be \\x hex", i+1)
			}
			b, err := hex.DecodeString(text[2:])
			if err != nil {
				return nil, errf(ErrSyntax, "parameter $%d: bytea text must be \\x hex", i+1)
			}
			args[i] = b
		case oidInt8, oidInt4, oidInt2:
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return nil, errf(ErrSyntax, "parameter $%d: not an integer", i+1)
			}
			args[i] = n
		case oidFloat8, oidFloat4, oidNumeric:
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, errf(ErrSyntax, "parameter $%d: not a number", i+1)
			}
			args[i] = f
		default:
			args[i] = text
		}
	}
	return args, nil
}
