package image

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Config defaults, used by DefaultConfig and for keys a config file omits.
const (
	DefaultNumHeapPages  = 65536 // 256 MiB
	DefaultNumStackPages = 256   // 1 MiB
	DefaultNumTCS        = 4
)

// Config limits (inclusive), checked by Validate.
const (
	MaxNumHeapPages  = 1 << 28 // 1 TiB
	MaxNumStackPages = 1 << 18 // 1 GiB
	MaxNumTCS        = 4096
)

// Limits on a config file read by ParseConfig.
const (
	maxConfigLine = 1024
	maxConfigSize = 64 << 10
)

// DefaultConfig returns the config a config file with no keys yields: a
// release (non-debug) enclave with product ID 0, security version 0,
// DefaultNumHeapPages, DefaultNumStackPages and DefaultNumTCS.
func DefaultConfig() Config {
	return Config{
		NumHeapPages:  DefaultNumHeapPages,
		NumStackPages: DefaultNumStackPages,
		NumTCS:        DefaultNumTCS,
	}
}

// Validate checks the ranges of c: 1 <= NumHeapPages <= MaxNumHeapPages,
// 1 <= NumStackPages <= MaxNumStackPages, 1 <= NumTCS <= MaxNumTCS. The
// error is a *ConfigError (errors.Is ErrConfig).
func (c Config) Validate() error {
	if c.NumHeapPages < 1 || c.NumHeapPages > MaxNumHeapPages {
		return &ConfigError{Key: "NumHeapPages", Reason: fmt.Sprintf("%d out of range 1..%d", c.NumHeapPages, MaxNumHeapPages)}
	}
	if c.NumStackPages < 1 || c.NumStackPages > MaxNumStackPages {
		return &ConfigError{Key: "NumStackPages", Reason: fmt.Sprintf("%d out of range 1..%d", c.NumStackPages, MaxNumStackPages)}
	}
	if c.NumTCS < 1 || c.NumTCS > MaxNumTCS {
		return &ConfigError{Key: "NumTCS", Reason: fmt.Sprintf("%d out of range 1..%d", c.NumTCS, MaxNumTCS)}
	}
	return nil
}

// ParseConfig reads an oesign-style config file: one "Key=Value" per line,
// spaces allowed around '=', blank lines and lines starting with '#'
// ignored. Keys (case-sensitive) are Debug (0 or 1), ProductID and
// SecurityVersion (0..65535), NumHeapPages, NumStackPages and NumTCS
// (decimal, ranges as in Validate), ExtendedProductID and FamilyID (16
// bytes: 32 hex digits, or a UUID 8-4-4-4-12, bytes in written order).
// Keys a file omits take the values of DefaultConfig. Unknown or duplicate
// keys, bad values, lines over 1024 bytes and files over 64 KiB are a
// *ConfigError (errors.Is ErrConfig).
func ParseConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	lr := &io.LimitedReader{R: r, N: maxConfigSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 256), maxConfigLine+2)
	seen := make(map[string]bool)
	line, size := 0, 0
	for sc.Scan() {
		line++
		size += len(sc.Bytes())
		if size > maxConfigSize {
			return Config{}, &ConfigError{Line: line, Reason: fmt.Sprintf("file larger than %d bytes", maxConfigSize)}
		}
		size++ // the newline
		text := strings.TrimSuffix(sc.Text(), "\r")
		if len(text) > maxConfigLine {
			return Config{}, &ConfigError{Line: line, Reason: fmt.Sprintf("line longer than %d bytes", maxConfigLine)}
		}
		text = strings.Trim(text, " \t")
		if text == "" || text[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return Config{}, &ConfigError{Line: line, Reason: "want Key=Value"}
		}
		key = strings.Trim(key, " \t")
		value = strings.Trim(value, " \t")
		if seen[key] {
			return Config{}, &ConfigError{Line: line, Key: key, Reason: "duplicate key"}
		}
		seen[key] = true
		if err := setKey(&cfg, key, value); err != nil {
			return Config{}, &ConfigError{Line: line, Key: key, Reason: err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Config{}, &ConfigError{Line: line + 1, Reason: fmt.Sprintf("line longer than %d bytes", maxConfigLine)}
		}
		return Config{}, fmt.Errorf("image: read config: %w", err)
	}
	if lr.N <= 0 {
		return Config{}, &ConfigError{Line: line, Reason: fmt.Sprintf("file larger than %d bytes", maxConfigSize)}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func setKey(cfg *Config, key, value string) error {
	switch key {
	case "Debug":
		switch value {
		case "0":
			cfg.Debug = false
		case "1":
			cfg.Debug = true
		default:
			return fmt.Errorf("%q is not 0 or 1", value)
		}
	case "ProductID":
		n, err := parseUint(value, 0, 0xffff)
		if err != nil {
			return err
		}
		cfg.ProductID = uint16(n)
	case "SecurityVersion":
		n, err := parseUint(value, 0, 0xffff)
		if err != nil {
			return err
		}
		cfg.SecurityVersion = uint16(n)
	case "NumHeapPages":
		n, err := parseUint(value, 1, MaxNumHeapPages)
		if err != nil {
			return err
		}
		cfg.NumHeapPages = n
	case "NumStackPages":
		n, err := parseUint(value, 1, MaxNumStackPages)
		if err != nil {
			return err
		}
		cfg.NumStackPages = n
	case "NumTCS":
		n, err := parseUint(value, 1, MaxNumTCS)
		if err != nil {
			return err
		}
		cfg.NumTCS = uint32(n)
	case "ExtendedProductID":
		return parseID(&cfg.ExtendedProductID, value)
	case "FamilyID":
		return parseID(&cfg.FamilyID, value)
	default:
		return errors.New("unknown key")
	}
	return nil
}

// parseUint parses a plain decimal number (digits only) in lo..hi.
func parseUint(s string, lo, hi uint64) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s out of range %d..%d", s, lo, hi)
	}
	return n, nil
}

// parseID parses 16 bytes written as 32 hex digits or as a UUID.
func parseID(dst *[16]byte, s string) error {
	h := s
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		h = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(h) != 32 {
		return fmt.Errorf("%q is not 32 hex digits or a UUID", s)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(h)); err != nil {
		return fmt.Errorf("%q is not 32 hex digits or a UUID", s)
	}
	*dst = b
	return nil
}

// Canonical config encoding (spec/image.md, "Canonical config"): 64
// bytes, integers little-endian.
const (
	configSize        = 64
	configVersion     = 1
	offConfigVersion  = 0  // u16, 1
	offConfigFlags    = 2  // u16, bit 0 = Debug
	offConfigProduct  = 4  // u16
	offConfigSVN      = 6  // u16
	offConfigHeap     = 8  // u64
	offConfigStack    = 16 // u64
	offConfigTCS      = 24 // u32
	offConfigReserved = 28 // u32, 0
	offConfigExtProd  = 32 // 16 bytes
	offConfigFamily   = 48 // 16 bytes
	flagDebug         = 1
)

// canonical returns the canonical 64-byte encoding of c.
func (c Config) canonical() [configSize]byte {
	var b [configSize]byte
	le := binary.LittleEndian
	le.PutUint16(b[offConfigVersion:], configVersion)
	if c.Debug {
		le.PutUint16(b[offConfigFlags:], flagDebug)
	}
	le.PutUint16(b[offConfigProduct:], c.ProductID)
	le.PutUint16(b[offConfigSVN:], c.SecurityVersion)
	le.PutUint64(b[offConfigHeap:], c.NumHeapPages)
	le.PutUint64(b[offConfigStack:], c.NumStackPages)
	le.PutUint32(b[offConfigTCS:], c.NumTCS)
	copy(b[offConfigExtProd:], c.ExtendedProductID[:])
	copy(b[offConfigFamily:], c.FamilyID[:])
	return b
}

// parseCanonical decodes a canonical config encoding. A wrong length,
// version, unknown flag or non-zero reserved field is ErrMalformed; values
// out of range are ErrConfig.
func parseCanonical(b []byte) (Config, error) {
	if len(b) != configSize {
		return Config{}, malformed("config is %d bytes, want %d", len(b), configSize)
	}
	le := binary.LittleEndian
	if v := le.Uint16(b[offConfigVersion:]); v != configVersion {
		return Config{}, malformed("config version %d, want %d", v, configVersion)
	}
	flags := le.Uint16(b[offConfigFlags:])
	if flags&^flagDebug != 0 {
		return Config{}, malformed("unknown config flags %#x", flags)
	}
	if r := le.Uint32(b[offConfigReserved:]); r != 0 {
		return Config{}, malformed("config reserved field %#x, want 0", r)
	}
	c := Config{
		Debug:           flags&flagDebug != 0,
		ProductID:       le.Uint16(b[offConfigProduct:]),
		SecurityVersion: le.Uint16(b[offConfigSVN:]),
		NumHeapPages:    le.Uint64(b[offConfigHeap:]),
		NumStackPages:   le.Uint64(b[offConfigStack:]),
		NumTCS:          le.Uint32(b[offConfigTCS:]),
	}
	copy(c.ExtendedProductID[:], b[offConfigExtProd:offConfigExtProd+16])
	copy(c.FamilyID[:], b[offConfigFamily:offConfigFamily+16])
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
