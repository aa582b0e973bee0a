package aesql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is a SQL Server data type that Always Encrypted can encrypt.
type Kind int

// The SQL Server types Normalize understands.
const (
	Bit Kind = iota + 1
	TinyInt
	SmallInt
	Int
	BigInt
	Decimal // also NUMERIC
	Money
	SmallMoney
	Real
	Float
	Char
	VarChar
	NChar
	NVarChar
	Binary
	VarBinary
	Date
	Time
	DateTime2
	DateTimeOffset
	UniqueIdentifier
)

var kindNames = map[Kind]string{
	Bit: "bit", TinyInt: "tinyint", SmallInt: "smallint", Int: "int", BigInt: "bigint",
	Decimal: "decimal", Money: "money", SmallMoney: "smallmoney", Real: "real", Float: "float",
	Char: "char", VarChar: "varchar", NChar: "nchar", NVarChar: "nvarchar", Binary: "binary",
	VarBinary: "varbinary", Date: "date", Time: "time", DateTime2: "datetime2",
	DateTimeOffset: "datetimeoffset", UniqueIdentifier: "uniqueidentifier",
}

// String returns the SQL name of the kind.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Code pages for Char and VarChar columns.
const (
	// CodePage1252 is Windows-1252, the code page of the Latin1_General
	// collations. It is the zero-value default of Type.CodePage.
	CodePage1252 = 1252
	// CodePageUTF8 is UTF-8, the code page of the _UTF8 collations.
	CodePageUTF8 = 65001
)

// Type describes a column's SQL type for normalisation.
type Type struct {
	// Kind is the SQL type.
	Kind Kind
	// Precision is the total number of digits of a Decimal, 1 to 38.
	// Zero means 18, SQL Server's default.
	Precision uint8
	// Scale is the number of fractional digits of a Decimal (0 to
	// Precision) or of the fractional seconds of a Time, DateTime2 or
	// DateTimeOffset (0 to 7; the zero value means 0, so callers must set
	// 7 for SQL Server's default).
	Scale uint8
	// Length is n in char(n), varchar(n), nchar(n), nvarchar(n), binary(n)
	// and varbinary(n): the maximum length in bytes (characters for the
	// n-types). Zero means no limit (max).
	Length int
	// CodePage is the code page of Char and VarChar values: CodePage1252
	// (the zero value) or CodePageUTF8.
	CodePage int
}

// ErrValue reports a value that cannot be normalised for its type: wrong Go
// type, out of range, too long, too precise, or not representable in the
// code page.
var ErrValue = errors.New("aesql: value does not fit the column type")

// ErrType reports a Type that is not valid (unknown kind, bad precision,
// scale or code page).
var ErrType = errors.New("aesql: invalid column type")

// ValueError gives the type and reason for a rejected value. It wraps
// ErrValue or ErrType.
type ValueError struct {
	Kind   Kind
	Reason string
	Err    error // ErrValue or ErrType
}

// Error implements error.
func (e *ValueError) Error() string {
	return fmt.Sprintf("aesql: %s: %s", e.Kind, e.Reason)
}

// Unwrap returns ErrValue or ErrType.
func (e *ValueError) Unwrap() error { return e.Err }

func valueErr(k Kind, format string, args ...any) error {
	return &ValueError{Kind: k, Reason: fmt.Sprintf(format, args...), Err: ErrValue}
}

func typeErr(k Kind, format string, args ...any) error {
	return &ValueError{Kind: k, Reason: fmt.Sprintf(format, args...), Err: ErrType}
}

// Normalised sizes (SqlClient TdsParser.SerializeUnencryptedValue, rule
// version 1).
const (
	intSize            = 8  // every integer type and bit normalise to bigint
	decimalSize        = 17 // sign byte and 16-byte little-endian magnitude
	moneySize          = 8  // smallmoney normalises to money
	dateSize           = 3  // days since 0001-01-01
	timeSize           = 5  // 100 ns ticks since midnight
	dateTime2Size      = timeSize + dateSize
	dateTimeOffsetSize = dateTime2Size + 2
	guidSize           = 16
	maxScale           = 7
	ticksPerDay        = 24 * 60 * 60 * 10_000_000
	maxDays            = 3652058 // 9999-12-31
)

// Value types by Kind, for Normalize and Denormalize:
//
//	Bit                      bool
//	TinyInt                  uint8 (Normalize also accepts any Go integer in range)
//	SmallInt                 int16 (idem)
//	Int                      int32 (idem)
//	BigInt                   int64 (idem)
//	Decimal, Money, SmallMoney  string in plain decimal notation, "-12.50"
//	                         (Normalize also accepts *big.Rat)
//	Real                     float32
//	Float                    float64
//	Char, VarChar, NChar, NVarChar  string (Normalize also accepts []byte,
//	                         taken as already encoded)
//	Binary, VarBinary        []byte
//	Date                     time.Time (its calendar date; the location is ignored)
//	Time                     time.Duration since midnight, [0, 24h)
//	DateTime2                time.Time (its wall clock; the location is ignored)
//	DateTimeOffset           time.Time (its instant and its zone offset in whole minutes)
//	UniqueIdentifier         [16]byte in RFC 4122 (textual) byte order, or its
//	                         36-character string form
//
// Denormalize returns the first type listed; Decimal and the money types
// come back with exactly Scale (or four) fractional digits, DateTime2 in
// UTC and DateTimeOffset in a fixed zone with the stored offset.

// Normalize encodes v as SQL Server does before encrypting a value of type
// t (normalisation rule version 1): every integer type as an 8-byte
// little-endian bigint, money types as money, times at full precision, and
// so on (see spec/aesql.md, "Plaintext normalisation").
func Normalize(t Type, v any) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	switch t.Kind {
	case Bit:
		b, ok := v.(bool)
		if !ok {
			return nil, valueErr(t.Kind, "want bool, got %T", v)
		}
		var n int64
		if b {
			n = 1
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), nil
	case TinyInt, SmallInt, Int, BigInt:
		n, err := toInt(t.Kind, v)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), nil
	case Decimal:
		r, err := toRat(t.Kind, v)
		if err != nil {
			return nil, err
		}
		return normDecimal(t, r)
	case Money, SmallMoney:
		r, err := toRat(t.Kind, v)
		if err != nil {
			return nil, err
		}
		return normMoney(t.Kind, r)
	case Real:
		f, ok := v.(float32)
		if !ok {
			return nil, valueErr(t.Kind, "want float32, got %T", v)
		}
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, valueErr(t.Kind, "NaN and infinities are not sql values")
		}
		return binary.LittleEndian.AppendUint32(nil, math.Float32bits(f)), nil
	case Float:
		f, ok := v.(float64)
		if !ok {
			return nil, valueErr(t.Kind, "want float64, got %T", v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, valueErr(t.Kind, "NaN and infinities are not sql values")
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), nil
	case Char, VarChar:
		var b []byte
		switch s := v.(type) {
		case string:
			var err error
			if b, err = encodeCodePage(t, s); err != nil {
				return nil, err
			}
		case []byte:
			b = append([]byte(nil), s...)
		default:
			return nil, valueErr(t.Kind, "want string, got %T", v)
		}
		if t.Length > 0 && len(b) > t.Length {
			return nil, valueErr(t.Kind, "%d bytes exceed length %d", len(b), t.Length)
		}
		return b, nil
	case NChar, NVarChar:
		var b []byte
		switch s := v.(type) {
		case string:
			if !utf8.ValidString(s) {
				return nil, valueErr(t.Kind, "string is not valid utf-8")
			}
			b = utf16le(s)
		case []byte:
			if len(s)%2 != 0 {
				return nil, valueErr(t.Kind, "utf-16 value has odd length %d", len(s))
			}
			b = append([]byte(nil), s...)
		default:
			return nil, valueErr(t.Kind, "want string, got %T", v)
		}
		if t.Length > 0 && len(b) > 2*t.Length {
			return nil, valueErr(t.Kind, "%d characters exceed length %d", len(b)/2, t.Length)
		}
		return b, nil
	case Binary, VarBinary:
		b, ok := v.([]byte)
		if !ok {
			return nil, valueErr(t.Kind, "want []byte, got %T", v)
		}
		if t.Length > 0 && len(b) > t.Length {
			return nil, valueErr(t.Kind, "%d bytes exceed length %d", len(b), t.Length)
		}
		return append([]byte{}, b...), nil
	case Date:
		tm, ok := v.(time.Time)
		if !ok {
			return nil, valueErr(t.Kind, "want time.Time, got %T", v)
		}
		d, err := daysOf(t.Kind, tm)
		if err != nil {
			return nil, err
		}
		return appendUint(nil, uint64(d), dateSize), nil
	case Time:
		d, ok := v.(time.Duration)
		if !ok {
			return nil, valueErr(t.Kind, "want time.Duration, got %T", v)
		}
		if d < 0 || d >= 24*time.Hour {
			return nil, valueErr(t.Kind, "%v is outside [0, 24h)", d)
		}
		return appendUint(nil, uint64(truncTicks(int64(d/100), t.Scale)), timeSize), nil
	case DateTime2:
		tm, ok := v.(time.Time)
		if !ok {
			return nil, valueErr(t.Kind, "want time.Time, got %T", v)
		}
		return appendDateTime2(t, tm)
	case DateTimeOffset:
		tm, ok := v.(time.Time)
		if !ok {
			return nil, valueErr(t.Kind, "want time.Time, got %T", v)
		}
		_, off := tm.Zone()
		if off%60 != 0 || off < -14*3600 || off > 14*3600 {
			return nil, valueErr(t.Kind, "zone offset %ds is not whole minutes within ±14:00", off)
		}
		b, err := appendDateTime2(t, tm.UTC())
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint16(b, uint16(int16(off/60))), nil
	case UniqueIdentifier:
		var g [16]byte
		switch x := v.(type) {
		case [16]byte:
			g = x
		case string:
			var err error
			if g, err = parseGUID(x); err != nil {
				return nil, err
			}
		default:
			return nil, valueErr(t.Kind, "want [16]byte or string, got %T", v)
		}
		return guidToDotNet(g), nil
	}
	return nil, typeErr(t.Kind, "unsupported kind")
}

// Denormalize decodes b, the plaintext of a cell of type t, into the Go
// value documented at Normalize. It rejects sizes and values that Normalize
// cannot produce.
func Denormalize(t Type, b []byte) (any, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	size := func(n int) error {
		if len(b) != n {
			return valueErr(t.Kind, "normalised value has %d bytes; want %d", len(b), n)
		}
		return nil
	}
	switch t.Kind {
	case Bit:
		if err := size(intSize); err != nil {
			return nil, err
		}
		switch binary.LittleEndian.Uint64(b) {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, valueErr(t.Kind, "value %x is neither 0 nor 1", b)
	case TinyInt, SmallInt, Int, BigInt:
		if err := size(intSize); err != nil {
			return nil, err
		}
		n := int64(binary.LittleEndian.Uint64(b))
		lo, hi := intRange(t.Kind)
		if n < lo || n > hi {
			return nil, valueErr(t.Kind, "value %d out of range", n)
		}
		switch t.Kind {
		case TinyInt:
			return uint8(n), nil
		case SmallInt:
			return int16(n), nil
		case Int:
			return int32(n), nil
		}
		return n, nil
	case Decimal:
		if err := size(decimalSize); err != nil {
			return nil, err
		}
		if b[0] > 1 {
			return nil, valueErr(t.Kind, "sign byte %d", b[0])
		}
		mag := make([]byte, 16)
		for i := range mag {
			mag[i] = b[16-i] // little-endian to big-endian
		}
		u := new(big.Int).SetBytes(mag)
		if len(u.String()) > int(t.precision()) {
			return nil, valueErr(t.Kind, "more than %d digits", t.precision())
		}
		if b[0] == 0 {
			u.Neg(u)
		}
		return formatScaled(u, int(t.Scale)), nil
	case Money, SmallMoney:
		if err := size(moneySize); err != nil {
			return nil, err
		}
		n := int64(uint64(binary.LittleEndian.Uint32(b[0:4]))<<32 | uint64(binary.LittleEndian.Uint32(b[4:8])))
		if t.Kind == SmallMoney && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, valueErr(t.Kind, "value out of smallmoney range")
		}
		return formatScaled(big.NewInt(n), 4), nil
	case Real:
		if err := size(4); err != nil {
			return nil, err
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(b))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, valueErr(t.Kind, "NaN or infinity")
		}
		return f, nil
	case Float:
		if err := size(8); err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, valueErr(t.Kind, "NaN or infinity")
		}
		return f, nil
	case Char, VarChar:
		if t.Length > 0 && len(b) > t.Length {
			return nil, valueErr(t.Kind, "%d bytes exceed length %d", len(b), t.Length)
		}
		return decodeCodePage(t, b)
	case NChar, NVarChar:
		if len(b)%2 != 0 {
			return nil, valueErr(t.Kind, "utf-16 value has odd length %d", len(b))
		}
		if t.Length > 0 && len(b) > 2*t.Length {
			return nil, valueErr(t.Kind, "%d characters exceed length %d", len(b)/2, t.Length)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u)), nil
	case Binary, VarBinary:
		if t.Length > 0 && len(b) > t.Length {
			return nil, valueErr(t.Kind, "%d bytes exceed length %d", len(b), t.Length)
		}
		return append([]byte{}, b...), nil
	case Date:
		if err := size(dateSize); err != nil {
			return nil, err
		}
		return dateOf(t.Kind, int64(readUint(b)))
	case Time:
		if err := size(timeSize); err != nil {
			return nil, err
		}
		ticks, err := checkTicks(t, readUint(b))
		if err != nil {
			return nil, err
		}
		return time.Duration(ticks) * 100, nil
	case DateTime2:
		if err := size(dateTime2Size); err != nil {
			return nil, err
		}
		return readDateTime2(t, b)
	case DateTimeOffset:
		if err := size(dateTimeOffsetSize); err != nil {
			return nil, err
		}
		utc, err := readDateTime2(t, b[:dateTime2Size])
		if err != nil {
			return nil, err
		}
		off := int(int16(binary.LittleEndian.Uint16(b[dateTime2Size:])))
		if off < -14*60 || off > 14*60 {
			return nil, valueErr(t.Kind, "offset %d minutes out of range", off)
		}
		return utc.In(time.FixedZone("", off*60)), nil
	case UniqueIdentifier:
		if err := size(guidSize); err != nil {
			return nil, err
		}
		// The .NET byte order swap is its own inverse.
		var g [16]byte
		copy(g[:], guidToDotNet([16]byte(b)))
		return g, nil
	}
	return nil, typeErr(t.Kind, "unsupported kind")
}

func (t Type) precision() uint8 {
	if t.Precision == 0 {
		return 18
	}
	return t.Precision
}

func (t Type) check() error {
	if _, ok := kindNames[t.Kind]; !ok {
		return typeErr(t.Kind, "unknown kind")
	}
	switch t.Kind {
	case Decimal:
		if t.precision() > 38 || t.Scale > t.precision() {
			return typeErr(t.Kind, "precision %d, scale %d out of range", t.precision(), t.Scale)
		}
	case Time, DateTime2, DateTimeOffset:
		if t.Scale > maxScale {
			return typeErr(t.Kind, "scale %d exceeds 7", t.Scale)
		}
	case Char, VarChar:
		if t.CodePage != 0 && t.CodePage != CodePage1252 && t.CodePage != CodePageUTF8 {
			return typeErr(t.Kind, "unsupported code page %d", t.CodePage)
		}
	}
	if t.Length < 0 {
		return typeErr(t.Kind, "negative length %d", t.Length)
	}
	return nil
}

func intRange(k Kind) (int64, int64) {
	switch k {
	case TinyInt:
		return 0, math.MaxUint8
	case SmallInt:
		return math.MinInt16, math.MaxInt16
	case Int:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

func toInt(k Kind, v any) (int64, error) {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, valueErr(k, "value %d out of range", x)
		}
		n = int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return 0, valueErr(k, "value %d out of range", x)
		}
		n = int64(x)
	default:
		return 0, valueErr(k, "want an integer, got %T", v)
	}
	lo, hi := intRange(k)
	if n < lo || n > hi {
		return 0, valueErr(k, "value %d out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

// toRat reads a decimal string (plain notation: optional sign, digits,
// optional point and digits) or a *big.Rat.
func toRat(k Kind, v any) (*big.Rat, error) {
	switch x := v.(type) {
	case *big.Rat:
		if x == nil {
			return nil, valueErr(k, "nil *big.Rat")
		}
		return new(big.Rat).Set(x), nil
	case string:
		s := strings.TrimPrefix(strings.TrimPrefix(x, "-"), "+")
		intPart, frac, _ := strings.Cut(s, ".")
		if len(s) == 0 || len(s) > 80 || intPart+frac == "" || strings.Trim(intPart+frac, "0123456789") != "" {
			return nil, valueErr(k, "%q is not a decimal number", x)
		}
		r, ok := new(big.Rat).SetString(x)
		if !ok {
			return nil, valueErr(k, "%q is not a decimal number", x)
		}
		return r, nil
	}
	return nil, valueErr(k, "want decimal string or *big.Rat, got %T", v)
}

// scaled returns r·10^scale as an integer, or false if it is not one.
func scaled(r *big.Rat, scale int) (*big.Int, bool) {
	m := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !m.IsInt() {
		return nil, false
	}
	return new(big.Int).Set(m.Num()), true
}

func normDecimal(t Type, r *big.Rat) ([]byte, error) {
	u, ok := scaled(r, int(t.Scale))
	if !ok {
		return nil, valueErr(t.Kind, "%s has more than %d fractional digits", r.FloatString(10), t.Scale)
	}
	out := make([]byte, decimalSize)
	out[0] = 1
	if u.Sign() < 0 {
		out[0] = 0
		u.Neg(u)
	}
	if len(u.String()) > int(t.precision()) {
		return nil, valueErr(t.Kind, "more than %d digits", t.precision())
	}
	mag := u.FillBytes(make([]byte, 16))
	for i := range 16 {
		out[1+i] = mag[15-i]
	}
	return out, nil
}

func normMoney(k Kind, r *big.Rat) ([]byte, error) {
	u, ok := scaled(r, 4)
	if !ok {
		return nil, valueErr(k, "more than 4 fractional digits")
	}
	if !u.IsInt64() {
		return nil, valueErr(k, "out of range")
	}
	n := u.Int64()
	if k == SmallMoney && (n < math.MinInt32 || n > math.MaxInt32) {
		return nil, valueErr(k, "out of smallmoney range")
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(uint64(n)>>32))
	return binary.LittleEndian.AppendUint32(out, uint32(n)), nil
}

// formatScaled formats u·10^-scale with exactly scale fractional digits.
func formatScaled(u *big.Int, scale int) string {
	neg := u.Sign() < 0
	s := new(big.Int).Abs(u).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// epoch is 0001-01-01, day zero of SQL Server's date type.
var epoch = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)

func daysOf(k Kind, tm time.Time) (int64, error) {
	y, m, d := tm.Date()
	if y < 1 || y > 9999 {
		return 0, valueErr(k, "year %d outside 1..9999", y)
	}
	civil := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return (civil.Unix() - epoch.Unix()) / 86400, nil
}

func dateOf(k Kind, days int64) (time.Time, error) {
	if days > maxDays {
		return time.Time{}, valueErr(k, "day %d after 9999-12-31", days)
	}
	return epoch.AddDate(0, 0, int(days)), nil
}

// truncTicks drops the precision below scale digits of a second, as
// SqlClient does (truncation, not rounding).
func truncTicks(ticks int64, scale uint8) int64 {
	unit := int64(1)
	for range maxScale - int(scale) {
		unit *= 10
	}
	return ticks / unit * unit
}

func checkTicks(t Type, ticks uint64) (int64, error) {
	if ticks >= ticksPerDay {
		return 0, valueErr(t.Kind, "time %d ticks is not within a day", ticks)
	}
	if truncTicks(int64(ticks), t.Scale) != int64(ticks) {
		return 0, valueErr(t.Kind, "time has more precision than scale %d", t.Scale)
	}
	return int64(ticks), nil
}

func appendDateTime2(t Type, tm time.Time) ([]byte, error) {
	days, err := daysOf(t.Kind, tm)
	if err != nil {
		return nil, err
	}
	h, m, s := tm.Clock()
	ticks := (int64(h)*3600+int64(m)*60+int64(s))*10_000_000 + int64(tm.Nanosecond()/100)
	b := appendUint(nil, uint64(truncTicks(ticks, t.Scale)), timeSize)
	return appendUint(b, uint64(days), dateSize), nil
}

func readDateTime2(t Type, b []byte) (time.Time, error) {
	ticks, err := checkTicks(t, readUint(b[:timeSize]))
	if err != nil {
		return time.Time{}, err
	}
	d, err := dateOf(t.Kind, int64(readUint(b[timeSize:])))
	if err != nil {
		return time.Time{}, err
	}
	return d.Add(time.Duration(ticks) * 100), nil
}

// appendUint appends the n low bytes of v, little-endian.
func appendUint(b []byte, v uint64, n int) []byte {
	for i := range n {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func readUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// guidToDotNet reorders an RFC 4122 GUID into .NET Guid.ToByteArray order:
// the first three fields little-endian, the last eight bytes as they are.
func guidToDotNet(g [16]byte) []byte {
	return []byte{
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6],
		g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15],
	}
}

func parseGUID(s string) ([16]byte, error) {
	var g [16]byte
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, valueErr(UniqueIdentifier, "%q is not a guid", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	for i := range 16 {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return g, valueErr(UniqueIdentifier, "%q is not a guid", s)
		}
		g[i] = hi<<4 | lo
	}
	return g, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// cp1252High maps Windows-1252 bytes 0x80..0x9F to Unicode. Bytes that the
// code page leaves undefined map to the C1 control of the same value, as
// Windows' MultiByteToWideChar and .NET do.
var cp1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

func encodeCodePage(t Type, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, valueErr(t.Kind, "string is not valid utf-8")
	}
	if t.CodePage == CodePageUTF8 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80 || (r >= 0xA0 && r <= 0xFF):
			out = append(out, byte(r))
		default:
			found := false
			for i, c := range cp1252High {
				if c == r {
					out = append(out, byte(0x80+i))
					found = true
					break
				}
			}
			if !found {
				return nil, valueErr(t.Kind, "%U is not in code page 1252", r)
			}
		}
	}
	return out, nil
}

func decodeCodePage(t Type, b []byte) (string, error) {
	if t.CodePage == CodePageUTF8 {
		if !utf8.Valid(b) {
			return "", valueErr(t.Kind, "value is not valid utf-8")
		}
		return string(b), nil
	}
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x80 && c < 0xA0 {
			sb.WriteRune(cp1252High[c-0x80])
		} else {
			sb.WriteRune(rune(c))
		}
	}
	return sb.String(), nil
}
