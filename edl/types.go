package edl

import (
	"sort"
	"strings"
	"unicode"
)

type fkind int

const (
	fInt fkind = iota + 1
	fBool
	fFloat
	fNamed
	fArray
	fSlice
	fPtr
	fHandle
	fString
	fWString
)

// ftype describes the Go type and wire encoding of a value.
type ftype struct {
	k     fkind
	goT   string // Go type
	wm    string // Writer/Reader method for fInt and fFloat
	wt    string // wire Go type for fInt (uint8…uint64)
	n     int    // array length
	elem  *ftype
	min   int  // minimum wire size in bytes
	fixed int  // wire size if fixed, else -1
	isInt bool // usable in size expressions
	cname string
	enum  bool
}

type scalarInfo struct {
	goT, wm, wt string
	size        int
}

var scalars = map[string]scalarInfo{
	"char":               {"int8", "U8", "uint8", 1},
	"signed char":        {"int8", "U8", "uint8", 1},
	"unsigned char":      {"uint8", "U8", "uint8", 1},
	"short":              {"int16", "U16", "uint16", 2},
	"unsigned short":     {"uint16", "U16", "uint16", 2},
	"int":                {"int32", "U32", "uint32", 4},
	"unsigned int":       {"uint32", "U32", "uint32", 4},
	"long":               {"int64", "U64", "uint64", 8},
	"unsigned long":      {"uint64", "U64", "uint64", 8},
	"long long":          {"int64", "U64", "uint64", 8},
	"unsigned long long": {"uint64", "U64", "uint64", 8},
	"int8_t":             {"int8", "U8", "uint8", 1},
	"uint8_t":            {"uint8", "U8", "uint8", 1},
	"int16_t":            {"int16", "U16", "uint16", 2},
	"uint16_t":           {"uint16", "U16", "uint16", 2},
	"int32_t":            {"int32", "U32", "uint32", 4},
	"uint32_t":           {"uint32", "U32", "uint32", 4},
	"int64_t":            {"int64", "U64", "uint64", 8},
	"uint64_t":           {"uint64", "U64", "uint64", 8},
	"size_t":             {"uint64", "U64", "uint64", 8},
	"ssize_t":            {"int64", "U64", "uint64", 8},
	"uintptr_t":          {"uint64", "U64", "uint64", 8},
	"intptr_t":           {"int64", "U64", "uint64", 8},
	"wchar_t":            {"int32", "U32", "uint32", 4},
}

// knownTypedefs maps C typedefs that EDL files use from C headers (the Open
// Enclave and libc headers they include) to a scalar type.
var knownTypedefs = map[string]string{
	"oe_result_t":    "unsigned int",
	"oe_host_fd_t":   "int64_t",
	"oe_off_t":       "int64_t",
	"off_t":          "int64_t",
	"oe_mode_t":      "uint32_t",
	"mode_t":         "uint32_t",
	"time_t":         "int64_t",
	"suseconds_t":    "int64_t",
	"oe_dev_t":       "uint64_t",
	"oe_ino_t":       "uint64_t",
	"oe_nlink_t":     "uint64_t",
	"oe_uid_t":       "uint32_t",
	"uid_t":          "uint32_t",
	"oe_gid_t":       "uint32_t",
	"gid_t":          "uint32_t",
	"oe_pid_t":       "int32_t",
	"pid_t":          "int32_t",
	"oe_blksize_t":   "int64_t",
	"oe_blkcnt_t":    "int64_t",
	"oe_socklen_t":   "uint32_t",
	"socklen_t":      "uint32_t",
	"oe_sa_family_t": "uint16_t",
	"oe_nfds_t":      "uint64_t",
	"oe_clockid_t":   "int32_t",
	"oe_log_level_t": "unsigned int",
	"sgx_status_t":   "unsigned int",
}

// knownFixed maps C types from headers whose layout is plain bytes of a
// known size; they become Go byte arrays.
var knownFixed = map[string]int{
	"oe_uuid_t":         16,
	"sgx_report_t":      432,
	"sgx_target_info_t": 512,
	"oe_epoll_event":    12, // packed { uint32_t events; uint64_t data; }
}

// knownMacros are C macros that appear in enum values.
var knownMacros = map[string]int64{
	"OE_ENUM_MAX": 0x7fffffff,
}

var goKeywords = map[string]bool{
	"break": true, "case": true, "chan": true, "const": true, "continue": true, "default": true,
	"defer": true, "else": true, "fallthrough": true, "for": true, "func": true, "go": true, "goto": true,
	"if": true, "import": true, "interface": true, "map": true, "package": true, "range": true,
	"return": true, "select": true, "struct": true, "switch": true, "type": true, "var": true,
	// predeclared identifiers that generated code uses
	"len": true, "make": true, "new": true, "nil": true, "true": true, "false": true, "copy": true,
	"append": true, "cap": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"int8": true, "int16": true, "int32": true, "int64": true, "uintptr": true, "bool": true,
	"byte": true, "string": true, "error": true, "float32": true, "float64": true, "int": true,
	"uint": true, "rune": true, "any": true, "panic": true,
	// locals of generated code
	"ctx": true, "impl": true, "c": true, "w": true, "r": true, "v": true, "err": true, "in": true, "wire": true, "context": true, "host": true, "enclave": true,
}

// camel turns a C identifier into an exported Go name: split on '_',
// capitalize each part, lower-case parts written in all capitals.
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		upper := strings.ToUpper(part) == part
		for i, r := range part {
			switch {
			case i == 0:
				b.WriteRune(unicode.ToUpper(r))
			case upper:
				b.WriteRune(unicode.ToLower(r))
			default:
				b.WriteRune(r)
			}
		}
	}
	out := b.String()
	if out == "" || !unicode.IsLetter(rune(out[0])) {
		out = "X" + out
	}
	return out
}

// lowerCamel turns a C parameter name into a Go parameter name.
func lowerCamel(s string) string {
	c := camel(s)
	r := []rune(c)
	// lower the leading run of capitals, e.g. "ID" -> "id"
	for i := 0; i < len(r) && unicode.IsUpper(r[i]); i++ {
		if i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) {
			break
		}
		r[i] = unicode.ToLower(r[i])
	}
	out := string(r)
	if goKeywords[out] || strings.HasPrefix(out, "x") {
		out += "_"
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
