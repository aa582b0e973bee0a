package skr

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnwrap is matched when wrapped key material does not unwrap: wrong
// key, tampered ciphertext or bad padding.
var ErrUnwrap = errors.New("skr: key does not unwrap")

// kwpIV is the alternative initial value of RFC 5649 section 3.
const kwpIV = 0xA65959A6

// maxWrap bounds the plaintext WrapPad accepts (a generous ceiling for keys
// and secrets).
const maxWrap = 1 << 20

// WrapPad wraps plaintext under kek with AES key wrap with padding
// (RFC 5649).
func WrapPad(kek, plaintext []byte) ([]byte, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("skr: %w", err)
	}
	if len(plaintext) == 0 || len(plaintext) > maxWrap {
		return nil, fmt.Errorf("skr: cannot wrap %d bytes", len(plaintext))
	}
	n := (len(plaintext) + 7) / 8
	p := make([]byte, 8+n*8)
	binary.BigEndian.PutUint32(p[0:4], kwpIV)
	binary.BigEndian.PutUint32(p[4:8], uint32(len(plaintext)))
	copy(p[8:], plaintext)
	if n == 1 {
		b.Encrypt(p, p)
		return p, nil
	}
	var blk [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(blk[:8], p[:8])
			copy(blk[8:], p[i*8:i*8+8])
			b.Encrypt(blk[:], blk[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(p[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(p[i*8:], blk[8:])
		}
	}
	return p, nil
}

// UnwrapPad reverses WrapPad, checking the integrity value, the length
// indicator and that the padding is zero.
func UnwrapPad(kek, wrapped []byte) ([]byte, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("skr: %w", err)
	}
	if len(wrapped) < 16 || len(wrapped)%8 != 0 || len(wrapped) > maxWrap+16 {
		return nil, ErrUnwrap
	}
	n := len(wrapped)/8 - 1
	p := make([]byte, len(wrapped))
	copy(p, wrapped)
	if n == 1 {
		b.Decrypt(p, p)
	} else {
		var blk [16]byte
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(p[:8])^t)
				copy(blk[8:], p[i*8:i*8+8])
				b.Decrypt(blk[:], blk[:])
				copy(p[:8], blk[:8])
				copy(p[i*8:], blk[8:])
			}
		}
	}
	iv := binary.BigEndian.Uint32(p[0:4])
	mli := int(binary.BigEndian.Uint32(p[4:8]))
	ok := subtle.ConstantTimeEq(int32(iv^kwpIV), 0)
	// The length must fall in the last 8-byte block and padding be zero.
	if ok != 1 || mli > n*8 || mli <= (n-1)*8 {
		clear(p)
		return nil, ErrUnwrap
	}
	var pad byte
	for _, c := range p[8+mli:] {
		pad |= c
	}
	if pad != 0 {
		clear(p)
		return nil, ErrUnwrap
	}
	out := append([]byte(nil), p[8:8+mli]...)
	clear(p)
	return out, nil
}
