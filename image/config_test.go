package image

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	kss := Config{
		ProductID: 42, SecurityVersion: 7, NumHeapPages: 65536, NumStackPages: 256, NumTCS: 8,
		ExtendedProductID: [16]byte{0x27, 0x68, 0xc7, 0x20, 0x1e, 0x28, 0x11, 0xeb, 0xad, 0xc1, 0x02, 0x42, 0xac, 0x12, 0x00, 0x02},
		FamilyID:          [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
	}
	tests := []struct {
		name string
		file string
		want Config
	}{
		{"helloworld", "helloworld.conf", Config{Debug: true, ProductID: 1, SecurityVersion: 1, NumHeapPages: 1024, NumStackPages: 1024, NumTCS: 1}},
		{"kss-crlf", "kss.conf", kss},
		{"defaults", "empty.conf", Config{NumHeapPages: 65536, NumStackPages: 256, NumTCS: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseConfig(f)
			if err != nil {
				t.Fatalf("ParseConfig(%s) error = %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseConfig(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantKey  string
	}{
		{"unknown key", "Debug=1\nStartAddress=0\n", 2, "StartAddress"},
		{"key case", "debug=1\n", 1, "debug"},
		{"duplicate", "NumTCS=1\n# x\nNumTCS=2\n", 3, "NumTCS"},
		{"no equals", "Debug 1\n", 1, ""},
		{"debug 2", "Debug=2\n", 1, "Debug"},
		{"debug true", "Debug=true\n", 1, "Debug"},
		{"product 65536", "ProductID=65536\n", 1, "ProductID"},
		{"svn negative", "SecurityVersion=-1\n", 1, "SecurityVersion"},
		{"svn plus", "SecurityVersion=+1\n", 1, "SecurityVersion"},
		{"svn hex", "SecurityVersion=0x10\n", 1, "SecurityVersion"},
		{"empty value", "ProductID=\n", 1, "ProductID"},
		{"tcs 0", "NumTCS=0\n", 1, "NumTCS"},
		{"tcs 4097", "NumTCS=4097\n", 1, "NumTCS"},
		{"heap 0", "NumHeapPages=0\n", 1, "NumHeapPages"},
		{"heap huge", "NumHeapPages=268435457\n", 1, "NumHeapPages"},
		{"heap overflow", "NumHeapPages=99999999999999999999999\n", 1, "NumHeapPages"},
		{"stack 0", "NumStackPages=0\n", 1, "NumStackPages"},
		{"stack huge", "NumStackPages=262145\n", 1, "NumStackPages"},
		{"family short", "FamilyID=0011\n", 1, "FamilyID"},
		{"family 33 digits", "FamilyID=00112233445566778899aabbccddeeff0\n", 1, "FamilyID"},
		{"family not hex", "FamilyID=g0112233445566778899aabbccddeeff\n", 1, "FamilyID"},
		{"extprod bad uuid", "ExtendedProductID=2768c720-1e28-11eb-adc1_0242ac120002\n", 1, "ExtendedProductID"},
		{"trailing comment", "NumTCS=1 # one\n", 1, "NumTCS"},
		{"long line", "# " + strings.Repeat("x", 2000) + "\n", 1, ""},
		{"oversized", strings.Repeat("# padding padding padding\n", 3000), 2521, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tt.in))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("ParseConfig(%q) error = %v; want ErrConfig", trunc(tt.in), err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig(%q) error = %T; want *ConfigError", trunc(tt.in), err)
			}
			if ce.Line != tt.wantLine || ce.Key != tt.wantKey {
				t.Errorf("ParseConfig(%q) error at line %d key %q; want line %d key %q", trunc(tt.in), ce.Line, ce.Key, tt.wantLine, tt.wantKey)
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"default", func(*Config) {}, ""},
		{"max", func(c *Config) {
			c.NumHeapPages, c.NumStackPages, c.NumTCS = MaxNumHeapPages, MaxNumStackPages, MaxNumTCS
		}, ""},
		{"heap 0", func(c *Config) { c.NumHeapPages = 0 }, "NumHeapPages"},
		{"heap max+1", func(c *Config) { c.NumHeapPages = MaxNumHeapPages + 1 }, "NumHeapPages"},
		{"stack 0", func(c *Config) { c.NumStackPages = 0 }, "NumStackPages"},
		{"stack max+1", func(c *Config) { c.NumStackPages = MaxNumStackPages + 1 }, "NumStackPages"},
		{"tcs 0", func(c *Config) { c.NumTCS = 0 }, "NumTCS"},
		{"tcs max+1", func(c *Config) { c.NumTCS = MaxNumTCS + 1 }, "NumTCS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || ce.Key != tt.wantKey {
				t.Fatalf("Validate() = %v; want *ConfigError for %s", err, tt.wantKey)
			}
		})
	}
}

// TestCanonicalLayout checks the canonical encoding against the byte
// layout written out by hand from spec/image.md.
func TestCanonicalLayout(t *testing.T) {
	c := Config{
		Debug: true, ProductID: 0x0102, SecurityVersion: 0x0304,
		NumHeapPages: 0x05060708090a0b0c, NumStackPages: 0x0d0e0f10, NumTCS: 0x11121314,
	}
	for i := range 16 {
		c.ExtendedProductID[i] = byte(0xa0 + i)
		c.FamilyID[i] = byte(0xb0 + i)
	}
	want := "0100" + "0100" + "0201" + "0403" + "0c0b0a0908070605" + "100f0e0d00000000" + "14131211" + "00000000" +
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" + "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	got := c.canonical()
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("canonical() = %x; want %s", got, want)
	}
}

func TestParseCanonical(t *testing.T) {
	good := DefaultConfig().canonical()
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"good", func(b []byte) []byte { return b }, nil},
		{"short", func(b []byte) []byte { return b[:63] }, ErrMalformed},
		{"long", func(b []byte) []byte { return append(b, 0) }, ErrMalformed},
		{"version 2", func(b []byte) []byte { b[0] = 2; return b }, ErrMalformed},
		{"unknown flag", func(b []byte) []byte { b[2] = 2; return b }, ErrMalformed},
		{"reserved", func(b []byte) []byte { b[30] = 1; return b }, ErrMalformed},
		{"tcs 0", func(b []byte) []byte { clear(b[24:28]); return b }, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), good[:]...))
			got, err := parseCanonical(b)
			if !errors.Is(err, tt.want) || (tt.want != nil && err == nil) {
				t.Fatalf("parseCanonical(%x) error = %v; want %v", b, err, tt.want)
			}
			if err == nil && got != DefaultConfig() {
				t.Errorf("parseCanonical(%x) = %+v; want %+v", b, got, DefaultConfig())
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"helloworld.conf", "kss.conf", "empty.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("NumTCS=0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := ParseConfig(strings.NewReader(string(in)))
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("ParseConfig error %v does not match ErrConfig", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig returned a config that fails Validate: %v", err)
		}
		// The canonical encoding round-trips.
		b := cfg.canonical()
		back, err := parseCanonical(b[:])
		if err != nil || back != cfg {
			t.Fatalf("parseCanonical(canonical(%+v)) = %+v, %v", cfg, back, err)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.ErrUnsupported }

func TestParseConfigReadError(t *testing.T) {
	_, err := ParseConfig(failingReader{})
	if !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrConfig) {
		t.Errorf("ParseConfig(failing reader) error = %v; want the read error, not ErrConfig", err)
	}
}
