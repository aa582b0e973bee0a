package image

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// identityJSON is the JSON form of Identity; IDs are lowercase hex.
type identityJSON struct {
	UniqueID          string `json:"unique_id"`
	SignerID          string `json:"signer_id"`
	ProductID         uint16 `json:"product_id"`
	SecurityVersion   uint16 `json:"security_version"`
	Debug             bool   `json:"debug"`
	ExtendedProductID string `json:"extended_product_id"`
	FamilyID          string `json:"family_id"`
}

// MarshalJSON encodes id with the claim names unique_id, signer_id,
// product_id, security_version, debug, extended_product_id and family_id,
// byte strings as lowercase hex.
func (id Identity) MarshalJSON() ([]byte, error) {
	return json.Marshal(identityJSON{
		UniqueID:          hex.EncodeToString(id.UniqueID[:]),
		SignerID:          hex.EncodeToString(id.SignerID[:]),
		ProductID:         id.ProductID,
		SecurityVersion:   id.SecurityVersion,
		Debug:             id.Debug,
		ExtendedProductID: hex.EncodeToString(id.ExtendedProductID[:]),
		FamilyID:          hex.EncodeToString(id.FamilyID[:]),
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes. Every field is
// required and byte strings must be hex of the exact length.
func (id *Identity) UnmarshalJSON(b []byte) error {
	var j struct {
		UniqueID          *string `json:"unique_id"`
		SignerID          *string `json:"signer_id"`
		ProductID         *uint16 `json:"product_id"`
		SecurityVersion   *uint16 `json:"security_version"`
		Debug             *bool   `json:"debug"`
		ExtendedProductID *string `json:"extended_product_id"`
		FamilyID          *string `json:"family_id"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("image: identity: %w", err)
	}
	if j.UniqueID == nil || j.SignerID == nil || j.ProductID == nil || j.SecurityVersion == nil ||
		j.Debug == nil || j.ExtendedProductID == nil || j.FamilyID == nil {
		return fmt.Errorf("image: identity: missing field")
	}
	var out Identity
	for _, f := range []struct {
		name string
		src  string
		dst  []byte
	}{
		{"unique_id", *j.UniqueID, out.UniqueID[:]},
		{"signer_id", *j.SignerID, out.SignerID[:]},
		{"extended_product_id", *j.ExtendedProductID, out.ExtendedProductID[:]},
		{"family_id", *j.FamilyID, out.FamilyID[:]},
	} {
		if len(f.src) != 2*len(f.dst) {
			return fmt.Errorf("image: identity: %s is %d hex digits, want %d", f.name, len(f.src), 2*len(f.dst))
		}
		if _, err := hex.Decode(f.dst, []byte(f.src)); err != nil {
			return fmt.Errorf("image: identity: %s: %v", f.name, err)
		}
	}
	out.ProductID, out.SecurityVersion, out.Debug = *j.ProductID, *j.SecurityVersion, *j.Debug
	*id = out
	return nil
}

// Dump is what "confide dump" shows of an image: the identity first, then
// the rest of the config and the signer. IDs are lowercase hex.
type Dump struct {
	UniqueID          string `json:"unique_id"`
	SignerID          string `json:"signer_id"`
	ProductID         uint16 `json:"product_id"`
	SecurityVersion   uint16 `json:"security_version"`
	Debug             bool   `json:"debug"`
	NumHeapPages      uint64 `json:"num_heap_pages"`
	NumStackPages     uint64 `json:"num_stack_pages"`
	NumTCS            uint32 `json:"num_tcs"`
	ExtendedProductID string `json:"extended_product_id"`
	FamilyID          string `json:"family_id"`
	// KeyType is "rsa3072", "p256", "p384", or "" for an unsigned image.
	KeyType string `json:"key_type,omitempty"`
	// BinarySize is the length of the binary before the trailer.
	BinarySize int64 `json:"binary_size"`
}

// Dump returns the dump of img.
func (img *Image) Dump() Dump {
	d := Dump{
		UniqueID:          hex.EncodeToString(img.Identity.UniqueID[:]),
		SignerID:          hex.EncodeToString(img.Identity.SignerID[:]),
		ProductID:         img.Config.ProductID,
		SecurityVersion:   img.Config.SecurityVersion,
		Debug:             img.Config.Debug,
		NumHeapPages:      img.Config.NumHeapPages,
		NumStackPages:     img.Config.NumStackPages,
		NumTCS:            img.Config.NumTCS,
		ExtendedProductID: hex.EncodeToString(img.Config.ExtendedProductID[:]),
		FamilyID:          hex.EncodeToString(img.Config.FamilyID[:]),
		BinarySize:        img.BinarySize,
	}
	if img.KeyType != 0 {
		d.KeyType = img.KeyType.String()
	}
	return d
}

// WriteText writes d as "name: value" lines in the order of the JSON form.
func (d Dump) WriteText(w io.Writer) error {
	debug := 0
	if d.Debug {
		debug = 1
	}
	_, err := fmt.Fprintf(w, "unique_id: %s\nsigner_id: %s\nproduct_id: %d\nsecurity_version: %d\ndebug: %d\n"+
		"num_heap_pages: %d\nnum_stack_pages: %d\nnum_tcs: %d\nextended_product_id: %s\nfamily_id: %s\nkey_type: %s\nbinary_size: %d\n",
		d.UniqueID, d.SignerID, d.ProductID, d.SecurityVersion, debug,
		d.NumHeapPages, d.NumStackPages, d.NumTCS, d.ExtendedProductID, d.FamilyID, d.KeyType, d.BinarySize)
	return err
}
