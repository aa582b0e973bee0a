package skr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWrapPadRFC5649 uses the two examples of RFC 5649 section 6.
func TestWrapPadRFC5649(t *testing.T) {
	kek := "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
	tests := []struct{ name, key, wrapped string }{
		{"20 octets", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"7 octets", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WrapPad(unhex(t, kek), unhex(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.wrapped {
				t.Errorf("WrapPad() = %x; want %s", got, tc.wrapped)
			}
			back, err := UnwrapPad(unhex(t, kek), got)
			if err != nil || !bytes.Equal(back, unhex(t, tc.key)) {
				t.Errorf("UnwrapPad() = %x, %v; want %s", back, err, tc.key)
			}
		})
	}
}

func TestUnwrapPadRejects(t *testing.T) {
	kek := unhex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	good := unhex(t, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", good[:8]},
		{"not multiple of 8", good[:30]},
		{"truncated", good[:24]},
		{"tampered", func() []byte { b := bytes.Clone(good); b[20] ^= 1; return b }()},
		{"trailing", append(bytes.Clone(good), make([]byte, 8)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnwrapPad(kek, tc.in); !errors.Is(err, ErrUnwrap) {
				t.Errorf("UnwrapPad(%x) = %v; want ErrUnwrap", tc.in, err)
			}
		})
	}
}

func FuzzUnwrapPad(f *testing.F) {
	f.Add(unhex(f, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
	f.Add(unhex(f, "afbeb0f07dfbf5419200f2ccb50bb24f"))
	kek := unhex(f, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := UnwrapPad(kek, in)
		if err != nil {
			return
		}
		again, err := WrapPad(kek, out)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("WrapPad(UnwrapPad(%x)) = %x, %v; want input back", in, again, err)
		}
	})
}
