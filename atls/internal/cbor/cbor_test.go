package cbor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Examples from RFC 8949 Appendix A.
func TestDecodeRFCExamples(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		major byte
		arg   uint64
		n     int // number of sub-items
	}{
		{"0", "00", Uint, 0, 0},
		{"23", "17", Uint, 23, 0},
		{"24", "1818", Uint, 24, 0},
		{"1000000", "1a000f4240", Uint, 1000000, 0},
		{"max uint64", "1bffffffffffffffff", Uint, 1<<64 - 1, 0},
		{"-1000", "3903e7", NegInt, 999, 0},
		{"h'01020304'", "4401020304", Bytes, 4, 0},
		{`"IETF"`, "6449455446", Text, 4, 0},
		{"[1, [2, 3], [4, 5]]", "8301820203820405", Array, 3, 3},
		{`{"a": 1, "b": [2, 3]}`, "a26161016162820203", Map, 2, 4},
		{"tag 1", "c11a514b67b0", Tag, 1, 1},
		{"false", "f4", Simple, 20, 0},
		{"null", "f6", Simple, 22, 0},
		{"simple(255)", "f8ff", Simple, 255, 0},
		{"float 1.5", "f93e00", Simple, 0x3e00, 0},
		{"float64", "fb3ff199999999999a", Simple, 0x3ff199999999999a, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := Decode(mustHex(tt.in))
			if err != nil {
				t.Fatalf("Decode(%s) = %v", tt.in, err)
			}
			if it.Major != tt.major || it.Arg != tt.arg || len(it.Items) != tt.n {
				t.Errorf("Decode(%s) = major %d arg %d items %d; want %d %d %d", tt.in, it.Major, it.Arg, len(it.Items), tt.major, tt.arg, tt.n)
			}
		})
	}
	it, _ := Decode(mustHex("a26161016162820203"))
	if v := it.Lookup("b"); v == nil || v.Major != Array || len(v.Items) != 2 {
		t.Errorf(`Lookup("b") = %+v`, v)
	}
	if v := it.Lookup("c"); v != nil {
		t.Errorf(`Lookup("c") = %+v; want nil`, v)
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := bytes.Repeat([]byte{0x81}, MaxDepth+2)
	deep = append(deep, 0)
	tests := map[string]string{
		"empty":               "",
		"truncated uint":      "19ff",
		"truncated bytes":     "44010203",
		"trailing":            "0000",
		"indefinite bytes":    "5f42010243030405ff",
		"indefinite array":    "9f01ff",
		"reserved info 28":    "1c",
		"break alone":         "ff",
		"array count too big": "9b000000010000000000",
		"map count too big":   "bbffffffffffffffff",
		"duplicate text key":  "a2616101616102",
		"duplicate int key":   "a201010102",
		"tag without content": "c1",
		"bad simple":          "f801",
		"deep":                hex.EncodeToString(deep),
	}
	for name, in := range tests {
		if _, err := Decode(mustHex(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%s: %s) = %v; want ErrMalformed", name, in, err)
		}
	}
}

func TestAppendRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
		b := AppendUint(nil, v)
		it, err := Decode(b)
		if err != nil || it.Major != Uint || it.Arg != v {
			t.Errorf("Decode(AppendUint(%d) = %x) = %+v, %v", v, b, it, err)
		}
	}
	b := AppendHead(nil, Array, 2)
	b = AppendBytes(b, []byte{1, 2})
	b = AppendText(b, "x")
	if got, want := hex.EncodeToString(b), "82420102"+"6178"; got != want {
		t.Errorf("encoding = %s; want %s", got, want)
	}
	// Decoded strings are copies.
	it, _ := Decode(b)
	b[2] = 9
	if it.Items[0].Bytes[0] != 1 {
		t.Error("decoded byte string aliases the input")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"8301820203820405", "a26161016162820203", "c11a514b67b0", "5f42010243030405ff", "f93e00"} {
		f.Add(mustHex(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v is not ErrMalformed", err)
			}
			return
		}
		if it == nil {
			t.Fatal("nil item without error")
		}
	})
}
