package service

import (
	cryptorand "crypto/rand"
	"encoding/base64"
	"strings"
)

var b64 = base64.RawURLEncoding

// decodeB64URL decodes base64url with or without padding (MAA clients send
// both); standard-alphabet input is refused.
func decodeB64URL(field, s string) ([]byte, error) {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, badRequest("%s is not base64url: %v", field, err)
	}
	return b, nil
}

// randReader is the randomness for key generation: crypto/rand only.
var randReader = cryptorand.Reader
