package policy

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/confide-dev/confide/cleanroom/contract"
)

// ResultInfo prefixes the contract hash in the HPKE info of a sealed release.
const ResultInfo = "confide-cleanroom-result-v1\x00"

// ErrOpen reports a sealed release that does not open: wrong key, wrong
// contract, or tampering.
var ErrOpen = errors.New("policy: sealed release does not open")

func resultInfo(c *contract.Contract) ([]byte, error) {
	h, err := c.Hash()
	if err != nil {
		return nil, err
	}
	return append([]byte(ResultInfo), h[:]...), nil
}

// Seal encrypts rel as JSON to its party's result key in c with HPKE
// (RFC 9180: DHKEM over the key's curve, HKDF-SHA256, AES-256-GCM, base
// mode), binding the contract hash in the info. The output is the
// encapsulated key followed by the ciphertext.
func Seal(rel *Release, c *contract.Contract) ([]byte, error) {
	p, err := c.Party(rel.Party)
	if err != nil {
		return nil, err
	}
	pub, err := p.ResultKey.Parse()
	if err != nil {
		return nil, fmt.Errorf("policy: result key of %q: %w", rel.Party, err)
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	info, err := resultInfo(c)
	if err != nil {
		return nil, err
	}
	pt, err := json.Marshal(rel)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer clear(pt)
	return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, pt)
}

// Open decrypts a release sealed by Seal for the holder of priv, under
// contract c.
func Open(sealed []byte, priv *ecdh.PrivateKey, c *contract.Contract) (*Release, error) {
	k, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	info, err := resultInfo(c)
	if err != nil {
		return nil, err
	}
	pt, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), info, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	defer clear(pt)
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	var rel Release
	if err := dec.Decode(&rel); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: malformed release", ErrOpen)
	}
	return &rel, nil
}
