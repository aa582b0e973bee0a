package image

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testIdentity() Identity {
	id := Identity{ProductID: 513, SecurityVersion: 2, Debug: true}
	for i := range 32 {
		id.UniqueID[i] = byte(i)
		id.SignerID[i] = byte(0xff - i)
	}
	id.ExtendedProductID[0] = 0xab
	id.FamilyID[15] = 0xcd
	return id
}

func TestIdentityJSON(t *testing.T) {
	id := testIdentity()
	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"unique_id":           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"signer_id":           "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0",
		"product_id":          513.0,
		"security_version":    2.0,
		"debug":               true,
		"extended_product_id": "ab000000000000000000000000000000",
		"family_id":           "000000000000000000000000000000cd",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("json.Marshal(Identity) mismatch (-want +got):\n%s", diff)
	}
	var back Identity
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Errorf("json.Unmarshal(json.Marshal(id)) = %+v, %v; want %+v", back, err, id)
	}
}

func TestIdentityUnmarshalErrors(t *testing.T) {
	good, _ := json.Marshal(testIdentity())
	tests := []struct {
		name string
		in   string
	}{
		{"not json", "x"},
		{"missing field", strings.Replace(string(good), `"debug":true,`, "", 1)},
		{"short id", strings.Replace(string(good), `"unique_id":"00`, `"unique_id":"`, 1)},
		{"bad hex", strings.Replace(string(good), `"unique_id":"00`, `"unique_id":"zz`, 1)},
		{"product overflow", strings.Replace(string(good), `513`, `70000`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id Identity
			if err := json.Unmarshal([]byte(tt.in), &id); err == nil {
				t.Errorf("json.Unmarshal(%s) = nil error; want an error", tt.in)
			}
		})
	}
}

func TestDump(t *testing.T) {
	cfg := testConfig()
	signed, err := Sign(testBinary(300), cfg, testKeys()[KeyECDSAP256])
	if err != nil {
		t.Fatal(err)
	}
	img, err := Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := img.Dump().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		k, _, _ := strings.Cut(line, ": ")
		keys = append(keys, k)
	}
	want := []string{"unique_id", "signer_id", "product_id", "security_version", "debug", "num_heap_pages",
		"num_stack_pages", "num_tcs", "extended_product_id", "family_id", "key_type", "binary_size"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("WriteText() keys mismatch (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(img.Dump())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("Dump JSON %s lacks %q", b, k)
		}
	}
	if m["num_tcs"] != 2.0 || m["product_id"] != 7.0 || m["key_type"] != "p256" || m["debug"] != false {
		t.Errorf("Dump JSON %s; want num_tcs 2, product_id 7, key_type p256, debug false", b)
	}
}

// FuzzIdentityJSON checks that whatever UnmarshalJSON accepts
// re-encodes to an equal identity.
func FuzzIdentityJSON(f *testing.F) {
	good, _ := json.Marshal(testIdentity())
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var id Identity
		if err := json.Unmarshal(in, &id); err != nil {
			return
		}
		b, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		var back Identity
		if err := json.Unmarshal(b, &back); err != nil || back != id {
			t.Fatalf("round trip of %s = %+v, %v", in, back, err)
		}
	})
}
