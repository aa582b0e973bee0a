package aesql

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"
)

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNormalizeKnown checks encodings fixed by independent sources: the
// MS-TDS type encodings (integers, money, decimal, date and time types),
// IEEE 754, UTF-16LE, Windows-1252 and .NET's Guid.ToByteArray order as
// SQL Server documents it for CAST(uniqueidentifier AS binary). Day counts
// and tick counts were computed separately with Python's datetime.
func TestNormalizeKnown(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	tests := []struct {
		name string
		typ  Type
		in   any
		want string
	}{
		{"bit true", Type{Kind: Bit}, true, "0100000000000000"},
		{"bit false", Type{Kind: Bit}, false, "0000000000000000"},
		{"tinyint 255", Type{Kind: TinyInt}, uint8(255), "ff00000000000000"},
		{"smallint -2", Type{Kind: SmallInt}, int16(-2), "feffffffffffffff"},
		{"int 1", Type{Kind: Int}, int32(1), "0100000000000000"},
		{"int from int", Type{Kind: Int}, 258, "0201000000000000"},
		{"bigint min", Type{Kind: BigInt}, int64(-1 << 63), "0000000000000080"},
		{"decimal(5,2) -123.45", Type{Kind: Decimal, Precision: 5, Scale: 2}, "-123.45", "00" + "39300000000000000000000000000000"},
		{"decimal(5,2) 123.4 scaled", Type{Kind: Decimal, Precision: 5, Scale: 2}, "123.4", "01" + "34300000000000000000000000000000"},
		{"decimal(38,0) 10^37", Type{Kind: Decimal, Precision: 38}, "10000000000000000000000000000000000000", "01" + "00000000a036f400d946dad510ee8507"},
		{"decimal rat", Type{Kind: Decimal, Precision: 3, Scale: 1}, big.NewRat(1, 2), "01" + "05000000000000000000000000000000"},
		{"money 1.0001", Type{Kind: Money}, "1.0001", "00000000" + "11270000"},
		{"smallmoney -1", Type{Kind: SmallMoney}, "-1", "ffffffff" + "f0d8ffff"},
		{"real 1.5", Type{Kind: Real}, float32(1.5), "0000c03f"},
		{"float -2.25", Type{Kind: Float}, -2.25, "00000000000002c0"},
		{"varchar 1252", Type{Kind: VarChar}, "café€", "636166e980"},
		{"varchar utf8", Type{Kind: VarChar, CodePage: CodePageUTF8}, "é", "c3a9"},
		{"nvarchar", Type{Kind: NVarChar}, "aé😀", "6100e9003dd800de"},
		{"varbinary", Type{Kind: VarBinary}, []byte{1, 2, 3}, "010203"},
		{"date 0001-01-01", Type{Kind: Date}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "000000"},
		{"date 2000-01-01", Type{Kind: Date}, time.Date(2000, 1, 1, 23, 0, 0, 0, plus1), "07240b"},
		{"date 9999-12-31", Type{Kind: Date}, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "dab937"},
		{"time(7) max", Type{Kind: Time, Scale: 7}, 24*time.Hour - 100, "ffbf692ac9"},
		{"time(0) truncates", Type{Kind: Time}, 12*time.Hour + 34*time.Minute + 56789*time.Millisecond, "0018857669"},
		{"datetime2(3)", Type{Kind: DateTime2, Scale: 3}, time.Date(2026, 11, 23, 12, 34, 56, 789123400, time.UTC), "507cfd7669" + "664a0b"},
		{"datetimeoffset(7)", Type{Kind: DateTimeOffset, Scale: 7}, time.Date(2000, 1, 1, 1, 0, 0, 0, plus1), "0000000000" + "07240b" + "3c00"},
		{"uniqueidentifier string", Type{Kind: UniqueIdentifier}, "6F9619FF-8B86-D011-B42D-00C04FC964FF", "ff19966f868b11d0b42d00c04fc964ff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.typ, tt.in)
			if err != nil {
				t.Fatalf("Normalize(%v, %v) = %v", tt.typ, tt.in, err)
			}
			if want := unhexT(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("Normalize(%v, %v) = %x; want %x", tt.typ, tt.in, got, want)
			}
		})
	}
}

func TestRoundTripValues(t *testing.T) {
	zone := time.FixedZone("", -(5*3600 + 30*60))
	guid := [16]byte{0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0, 0xc0, 0x4f, 0xc9, 0x64, 0xff}
	tests := []struct {
		name string
		typ  Type
		in   any
		want any // nil means in
	}{
		{"bit", Type{Kind: Bit}, true, nil},
		{"tinyint", Type{Kind: TinyInt}, uint8(7), nil},
		{"smallint", Type{Kind: SmallInt}, int16(-300), nil},
		{"int", Type{Kind: Int}, int32(-70000), nil},
		{"bigint", Type{Kind: BigInt}, int64(1 << 60), nil},
		{"decimal", Type{Kind: Decimal, Precision: 10, Scale: 3}, "-0.5", "-0.500"},
		{"decimal 38", Type{Kind: Decimal, Precision: 38, Scale: 38}, "0.99999999999999999999999999999999999999", nil},
		{"money", Type{Kind: Money}, "-922337203685477.5808", nil},
		{"smallmoney", Type{Kind: SmallMoney}, "214748.3647", nil},
		{"real", Type{Kind: Real}, float32(-3.25), nil},
		{"float", Type{Kind: Float}, 1e300, nil},
		{"char 1252 all", Type{Kind: Char}, "\u0081Œ ÿ~", nil},
		{"nchar", Type{Kind: NChar, Length: 3}, "日本語", nil},
		{"binary", Type{Kind: Binary, Length: 4}, []byte{0, 0, 0, 1}, nil},
		{"date", Type{Kind: Date}, time.Date(1752, 9, 14, 0, 0, 0, 0, time.UTC), nil},
		{"time", Type{Kind: Time, Scale: 7}, 13*time.Hour + 1234567*100, nil},
		{"datetime2", Type{Kind: DateTime2, Scale: 7}, time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC), nil},
		{"datetimeoffset", Type{Kind: DateTimeOffset, Scale: 2}, time.Date(2024, 2, 29, 23, 59, 59, 990000000, zone), nil},
		{"uniqueidentifier", Type{Kind: UniqueIdentifier}, guid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Normalize(tt.typ, tt.in)
			if err != nil {
				t.Fatalf("Normalize(%v) = %v", tt.in, err)
			}
			got, err := Denormalize(tt.typ, b)
			if err != nil {
				t.Fatalf("Denormalize(%x) = %v", b, err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if wt, ok := want.(time.Time); ok {
				gt, ok := got.(time.Time)
				if !ok || !gt.Equal(wt) {
					t.Errorf("Denormalize(Normalize(%v)) = %v; want %v", tt.in, got, want)
				}
				if tt.typ.Kind == DateTimeOffset {
					_, go_ := gt.Zone()
					_, wo := wt.Zone()
					if go_ != wo {
						t.Errorf("Denormalize(Normalize(%v)) offset = %d; want %d", tt.in, go_, wo)
					}
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Denormalize(Normalize(%#v)) = %#v; want %#v", tt.in, got, want)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		in   any
		want error
	}{
		{"bit wrong type", Type{Kind: Bit}, 1, ErrValue},
		{"tinyint negative", Type{Kind: TinyInt}, -1, ErrValue},
		{"smallint overflow", Type{Kind: SmallInt}, 40000, ErrValue},
		{"bigint uint64", Type{Kind: BigInt}, uint64(1 << 63), ErrValue},
		{"decimal too precise", Type{Kind: Decimal, Precision: 5, Scale: 2}, "1.234", ErrValue},
		{"decimal too many digits", Type{Kind: Decimal, Precision: 5, Scale: 2}, "1234.5", ErrValue},
		{"decimal exponent", Type{Kind: Decimal}, "1e3", ErrValue},
		{"decimal garbage", Type{Kind: Decimal}, "12a", ErrValue},
		{"decimal empty", Type{Kind: Decimal}, "-.", ErrValue},
		{"decimal bad precision", Type{Kind: Decimal, Precision: 39}, "1", ErrType},
		{"decimal scale > precision", Type{Kind: Decimal, Precision: 2, Scale: 3}, "1", ErrType},
		{"money fraction", Type{Kind: Money}, "0.00001", ErrValue},
		{"money overflow", Type{Kind: Money}, "922337203685477.5808", ErrValue},
		{"smallmoney overflow", Type{Kind: SmallMoney}, "214748.3648", ErrValue},
		{"real NaN", Type{Kind: Real}, float32(0) / func() float32 { return 0 }(), ErrValue},
		{"varchar not in 1252", Type{Kind: VarChar}, "Ω", ErrValue},
		{"varchar too long", Type{Kind: VarChar, Length: 2}, "abc", ErrValue},
		{"varchar bad code page", Type{Kind: VarChar, CodePage: 437}, "a", ErrType},
		{"nvarchar too long", Type{Kind: NVarChar, Length: 1}, "ab", ErrValue},
		{"nvarchar invalid utf8", Type{Kind: NVarChar}, "\xff", ErrValue},
		{"binary wrong type", Type{Kind: Binary}, "x", ErrValue},
		{"date year 0", Type{Kind: Date}, time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), ErrValue},
		{"date year 10000", Type{Kind: Date}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ErrValue},
		{"time 24h", Type{Kind: Time, Scale: 7}, 24 * time.Hour, ErrValue},
		{"time negative", Type{Kind: Time}, -time.Second, ErrValue},
		{"time scale 8", Type{Kind: Time, Scale: 8}, time.Second, ErrType},
		{"datetimeoffset seconds offset", Type{Kind: DateTimeOffset}, time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 30)), ErrValue},
		{"datetimeoffset 15h", Type{Kind: DateTimeOffset}, time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 15*3600)), ErrValue},
		{"guid short", Type{Kind: UniqueIdentifier}, "6F9619FF-8B86-D011-B42D-00C04FC964F", ErrValue},
		{"guid bad hex", Type{Kind: UniqueIdentifier}, "6F9619FF-8B86-D011-B42D-00C04FC964FG", ErrValue},
		{"unknown kind", Type{Kind: 99}, 1, ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.typ, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("Normalize(%v, %v) = %x, %v; want %v", tt.typ, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDenormalizeErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		in   string
	}{
		{"bit 2", Type{Kind: Bit}, "0200000000000000"},
		{"bit short", Type{Kind: Bit}, "01"},
		{"int trailing", Type{Kind: Int}, "010000000000000000"},
		{"tinyint 256", Type{Kind: TinyInt}, "0001000000000000"},
		{"int out of range", Type{Kind: Int}, "0000008000000000"},
		{"decimal sign 2", Type{Kind: Decimal}, "02" + "01000000000000000000000000000000"},
		{"decimal too many digits", Type{Kind: Decimal, Precision: 1}, "01" + "0a000000000000000000000000000000"},
		{"smallmoney out of range", Type{Kind: SmallMoney}, "0100000000000000"},
		{"real NaN", Type{Kind: Real}, "0000c07f"},
		{"nvarchar odd", Type{Kind: NVarChar}, "610"},
		{"varchar utf8 invalid", Type{Kind: VarChar, CodePage: CodePageUTF8}, "ff"},
		{"date past 9999", Type{Kind: Date}, "dbb937"},
		{"time a day", Type{Kind: Time, Scale: 7}, "00c0692ac9"},
		{"time too precise", Type{Kind: Time, Scale: 0}, "0100000000"},
		{"datetime2 short", Type{Kind: DateTime2, Scale: 7}, "00000000000000"},
		{"datetimeoffset offset", Type{Kind: DateTimeOffset, Scale: 7}, "0000000000000000" + "8503"},
		{"guid short", Type{Kind: UniqueIdentifier}, "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.in)
			if len(tt.in)%2 == 1 {
				b = []byte{0x61, 0, 0}
			}
			got, err := Denormalize(tt.typ, b)
			if !errors.Is(err, ErrValue) {
				t.Errorf("Denormalize(%v, %x) = %v, %v; want ErrValue", tt.typ, b, got, err)
			}
		})
	}
}

func FuzzDenormalize(f *testing.F) {
	f.Add(uint8(Int), uint8(0), []byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(Decimal), uint8(2), append([]byte{1, 0x39, 0x30}, make([]byte, 14)...))
	f.Add(uint8(DateTimeOffset), uint8(7), []byte{0, 0, 0, 0, 0, 7, 0x24, 0xb, 0x3c, 0})
	f.Add(uint8(NVarChar), uint8(0), []byte{0x3d, 0xd8, 0, 0xde})
	f.Fuzz(func(t *testing.T, kind, scale uint8, b []byte) {
		typ := Type{Kind: Kind(kind), Scale: scale % 8, Precision: 38}
		v, err := Denormalize(typ, b)
		if err != nil {
			return
		}
		again, err := Normalize(typ, v)
		if err != nil {
			t.Fatalf("Normalize(Denormalize(%v, %x) = %#v) = %v", typ, b, v, err)
		}
		// Char round trips are exact only for code page 1252 bytes, NChar
		// only for well-formed UTF-16.
		if typ.Kind != NChar && typ.Kind != NVarChar && !bytes.Equal(again, b) {
			t.Fatalf("Normalize(Denormalize(%v, %x)) = %x", typ, b, again)
		}
	})
}
