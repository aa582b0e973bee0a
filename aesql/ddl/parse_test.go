package ddl

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/confide-dev/confide/aesql"
)

// Statements in the shapes SQL Server Management Studio and the SqlClient
// samples emit (bracketed names, N” strings, [type](n), multi-line WITH).
const (
	docCMK = `CREATE COLUMN MASTER KEY MyCMK
WITH (
     KEY_STORE_PROVIDER_NAME = N'MSSQL_CERTIFICATE_STORE',
     KEY_PATH = 'Current User/Personal/f2260f28d909d21c642a3d8e0b45a830e79a1420'
   );`
	samplesCMK = `CREATE COLUMN MASTER KEY [AKVTestCMK]
                    WITH (
                        KEY_STORE_PROVIDER_NAME = N'AZURE_KEY_VAULT',
                        KEY_PATH = N'https://myvault.vault.azure.net/keys/CMK/0123abcd',
                        ENCLAVE_COMPUTATIONS (SIGNATURE = 0xA80F5B17D6AC6F1F)
                    );`
	samplesCEK = `CREATE COLUMN ENCRYPTION KEY [AKVTestCEK] 
                    WITH VALUES (
                        COLUMN_MASTER_KEY = [AKVTestCMK],
                        ALGORITHM = 'RSA_OAEP', 
                        ENCRYPTED_VALUE = 0x016E000001630075007200720065006E0074
                    )`
	samplesTable = `CREATE TABLE [dbo].[AKVTestTable]
                (
                    [CustomerId] [int] ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = [AKVTestCEK], ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
                    [FirstName] [nvarchar](50) COLLATE Latin1_General_BIN2 ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = [AKVTestCEK], ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256') NOT NULL,
                    Notes varchar(max) NULL
                )`
)

func TestParse(t *testing.T) {
	cellAlg := CellAlgorithm
	tests := []struct {
		name string
		src  string
		want []Statement
	}{
		{"documented cmk", docCMK, []Statement{&CreateColumnMasterKey{
			Pos: Pos{1, 1}, Name: "MyCMK", KeyStoreProviderName: "MSSQL_CERTIFICATE_STORE",
			KeyPath: "Current User/Personal/f2260f28d909d21c642a3d8e0b45a830e79a1420",
		}}},
		{"cmk with enclave computations", samplesCMK, []Statement{&CreateColumnMasterKey{
			Pos: Pos{1, 1}, Name: "AKVTestCMK", KeyStoreProviderName: "AZURE_KEY_VAULT",
			KeyPath:             "https://myvault.vault.azure.net/keys/CMK/0123abcd",
			EnclaveComputations: true, Signature: []byte{0xa8, 0x0f, 0x5b, 0x17, 0xd6, 0xac, 0x6f, 0x1f},
		}}},
		{"cek", samplesCEK, []Statement{&CreateColumnEncryptionKey{
			Pos: Pos{1, 1}, Name: "AKVTestCEK", Values: []CEKValue{{
				ColumnMasterKey: "AKVTestCMK", Algorithm: "RSA_OAEP",
				EncryptedValue: []byte{0x01, 0x6e, 0, 0, 0x01, 0x63, 0, 0x75, 0, 0x72, 0, 0x72, 0, 0x65, 0, 0x6e, 0, 0x74},
			}},
		}}},
		{"table", samplesTable, []Statement{&CreateTable{
			Pos: Pos{1, 1}, Schema: "dbo", Name: "AKVTestTable", Columns: []Column{
				{Pos: Pos{3, 21}, Name: "CustomerId", Type: DataType{Name: "int"},
					Encryption: &Encryption{ColumnEncryptionKey: "AKVTestCEK", Type: Randomized, Algorithm: cellAlg}},
				{Pos: Pos{4, 21}, Name: "FirstName", Type: DataType{Name: "nvarchar", Args: []int{50}}, Collation: "Latin1_General_BIN2",
					Encryption: &Encryption{ColumnEncryptionKey: "AKVTestCEK", Type: Deterministic, Algorithm: cellAlg}, NotNull: true},
				{Pos: Pos{5, 21}, Name: "Notes", Type: DataType{Name: "varchar", Max: true}, Null: true},
			},
		}}},
		{"lowercase keywords and quoted names", `create column encryption key "my ""cek""" with values
			(encrypted_value = 0x01, algorithm = 'rsa_oaep', column_master_key = "a"),
			(column_master_key = [b]]], algorithm = N'RSA_OAEP', encrypted_value = 0x02)`,
			[]Statement{&CreateColumnEncryptionKey{Pos: Pos{1, 1}, Name: `my "cek"`, Values: []CEKValue{
				{ColumnMasterKey: "a", Algorithm: "rsa_oaep", EncryptedValue: []byte{1}},
				{ColumnMasterKey: "b]", Algorithm: "RSA_OAEP", EncryptedValue: []byte{2}},
			}}}},
		{"drops, comments and GO", "-- rotate\nDROP TABLE dbo.t /* nested /* comment */ */;\nGO\ndrop column encryption key [k]\ndrop COLUMN master KEY m;",
			[]Statement{
				&Drop{Pos: Pos{2, 1}, Kind: Table, Schema: "dbo", Name: "t"},
				&Drop{Pos: Pos{4, 1}, Kind: ColumnEncryptionKey, Name: "k"},
				&Drop{Pos: Pos{5, 1}, Kind: ColumnMasterKey, Name: "m"},
			}},
		{"decimal args", "CREATE TABLE t (a decimal(10, 2), b datetime2(3) NOT NULL)", []Statement{&CreateTable{
			Pos: Pos{1, 1}, Name: "t", Columns: []Column{
				{Pos: Pos{1, 17}, Name: "a", Type: DataType{Name: "decimal", Args: []int{10, 2}}},
				{Pos: Pos{1, 35}, Name: "b", Type: DataType{Name: "datetime2", Args: []int{3}}, NotNull: true},
			}}}},
		{"empty", "  ;; -- nothing\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse() = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const enc = "ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = k, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	tests := []struct {
		name string
		src  string
		pos  Pos
	}{
		{"unknown statement", "SELECT 1", Pos{1, 1}},
		{"missing key path", "CREATE COLUMN MASTER KEY m WITH (KEY_STORE_PROVIDER_NAME = 'x')", Pos{1, 63}},
		{"duplicate option", "CREATE COLUMN MASTER KEY m WITH (KEY_PATH = 'a', KEY_PATH = 'b')", Pos{1, 50}},
		{"path not string", "CREATE COLUMN MASTER KEY m WITH (KEY_PATH = 0x01)", Pos{1, 45}},
		{"odd hex", "CREATE COLUMN MASTER KEY m WITH (KEY_STORE_PROVIDER_NAME = 'x', KEY_PATH = 'y',\n ENCLAVE_COMPUTATIONS (SIGNATURE = 0x123))", Pos{2, 36}},
		{"bad hex", "CREATE COLUMN ENCRYPTION KEY k WITH VALUES (ENCRYPTED_VALUE = 0x12zz)", Pos{1, 67}},
		{"unterminated string", "CREATE COLUMN MASTER KEY m WITH (KEY_PATH = 'abc", Pos{1, 45}},
		{"unterminated ident", "DROP TABLE [abc", Pos{1, 12}},
		{"unterminated comment", "DROP TABLE t /* x", Pos{1, 14}},
		{"wrong key algorithm", "CREATE COLUMN ENCRYPTION KEY k WITH VALUES (COLUMN_MASTER_KEY = m, ALGORITHM = 'RSA_OAEP_256', ENCRYPTED_VALUE = 0x01)", Pos{1, 80}},
		{"three values", "CREATE COLUMN ENCRYPTION KEY k WITH VALUES (COLUMN_MASTER_KEY = a, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01), (COLUMN_MASTER_KEY = b, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01), (COLUMN_MASTER_KEY = c, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01)", Pos{1, 190}},
		{"same cmk twice", "CREATE COLUMN ENCRYPTION KEY k WITH VALUES (COLUMN_MASTER_KEY = a, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01), (COLUMN_MASTER_KEY = A, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x02)", Pos{1, 1}},
		{"missing encrypted value", "CREATE COLUMN ENCRYPTION KEY k WITH VALUES (COLUMN_MASTER_KEY = a, ALGORITHM = 'RSA_OAEP')", Pos{1, 90}},
		{"bad encryption type", "CREATE TABLE t (c int ENCRYPTED WITH (ENCRYPTION_TYPE = SOMETIMES))", Pos{1, 57}},
		{"bad cell algorithm", "CREATE TABLE t (c int ENCRYPTED WITH (ALGORITHM = 'AES'))", Pos{1, 51}},
		{"duplicate column", "CREATE TABLE t (c int, C int)", Pos{1, 24}},
		{"duplicate null", "CREATE TABLE t (c int " + enc + " NULL NOT NULL)", Pos{1, 149}},
		{"duplicate encryption", "CREATE TABLE t (c int " + enc + " " + enc + ")", Pos{1, 144}},
		{"constraint unsupported", "CREATE TABLE t (c int PRIMARY KEY)", Pos{1, 23}},
		{"empty table", "CREATE TABLE t ()", Pos{1, 17}},
		{"reserved name", "DROP TABLE table", Pos{1, 12}},
		{"max and number", "CREATE TABLE t (c varchar(max, 2))", Pos{1, 32}},
		{"three type args", "CREATE TABLE t (c decimal(1, 2, 3))", Pos{1, 33}},
		{"trailing garbage", "DROP TABLE t )", Pos{1, 14}},
		{"long identifier", "DROP TABLE " + strings.Repeat("a", 129), Pos{1, 12}},
		{"invalid utf-8", "DROP TABLE [a\xff]", Pos{1, 14}},
		{"stray character", "DROP TABLE t!", Pos{1, 13}},
		{"number then letters", "CREATE TABLE t (c char(12a))", Pos{1, 26}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.src)
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %v, %v; want *SyntaxError", tt.src, got, err)
			}
			if se.Pos != tt.pos {
				t.Errorf("Parse(%q) error at %v (%v); want %v", tt.src, se.Pos, err, tt.pos)
			}
		})
	}
	if _, err := Parse(strings.Repeat(" ", MaxSource+1)); !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse(oversized) = %v; want ErrSyntax", err)
	}
}

func TestValueType(t *testing.T) {
	tests := []struct {
		col  string
		want aesql.Type
	}{
		{"c int", aesql.Type{Kind: aesql.Int}},
		{"c [bit]", aesql.Type{Kind: aesql.Bit}},
		{"c decimal", aesql.Type{Kind: aesql.Decimal, Precision: 18}},
		{"c numeric(38, 10)", aesql.Type{Kind: aesql.Decimal, Precision: 38, Scale: 10}},
		{"c float(24)", aesql.Type{Kind: aesql.Real}},
		{"c float", aesql.Type{Kind: aesql.Float}},
		{"c char", aesql.Type{Kind: aesql.Char, Length: 1, CodePage: aesql.CodePage1252}},
		{"c varchar(10) COLLATE Latin1_General_100_BIN2_UTF8", aesql.Type{Kind: aesql.VarChar, Length: 10, CodePage: aesql.CodePageUTF8}},
		{"c nvarchar(max)", aesql.Type{Kind: aesql.NVarChar}},
		{"c varbinary(8000)", aesql.Type{Kind: aesql.VarBinary, Length: 8000}},
		{"c time", aesql.Type{Kind: aesql.Time, Scale: 7}},
		{"c datetimeoffset(0)", aesql.Type{Kind: aesql.DateTimeOffset}},
		{"c uniqueidentifier", aesql.Type{Kind: aesql.UniqueIdentifier}},
	}
	for _, tt := range tests {
		t.Run(tt.col, func(t *testing.T) {
			st, err := Parse("CREATE TABLE t (" + tt.col + ")")
			if err != nil {
				t.Fatal(err)
			}
			c := st[0].(*CreateTable).Columns[0]
			got, err := c.ValueType()
			if err != nil || got != tt.want {
				t.Errorf("ValueType(%s) = %+v, %v; want %+v", tt.col, got, err, tt.want)
			}
		})
	}
	for _, col := range []string{"c text", "c xml", "c int(4)", "c char(max)", "c nvarchar(4001)", "c decimal(39)", "c time(8)", "c float(54)", "c varchar(5) COLLATE Japanese_CI_AS", "c binary(0)"} {
		t.Run(col, func(t *testing.T) {
			st, err := Parse("CREATE TABLE t (" + col + ")")
			if err != nil {
				t.Fatal(err)
			}
			c := st[0].(*CreateTable).Columns[0]
			if got, err := c.ValueType(); !errors.Is(err, aesql.ErrType) {
				t.Errorf("ValueType(%s) = %+v, %v; want aesql.ErrType", col, got, err)
			}
		})
	}
}

func FuzzParseDDL(f *testing.F) {
	for _, s := range []string{docCMK, samplesCMK, samplesCEK, samplesTable,
		docCMK + "\nGO\n" + samplesCEK + ";\n" + samplesTable + ";\nDROP TABLE [dbo].[AKVTestTable]; DROP COLUMN ENCRYPTION KEY [AKVTestCEK]",
		"create table \"t\" (c char(1) collate Latin1_General_BIN2 null)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		st, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("Parse(%q) = %v; want *SyntaxError with a position", src, err)
			}
			return
		}
		for _, s := range st {
			if ct, ok := s.(*CreateTable); ok {
				for i := range ct.Columns {
					ct.Columns[i].ValueType() // must not panic
				}
			}
		}
	})
}
