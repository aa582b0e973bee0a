package aesql

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"testing"
)

var benchSizes = []int{64, 4096}

func BenchmarkEncryptCell(b *testing.B) {
	k := mustKey(b, bytes.Repeat([]byte{3}, KeySize))
	for _, size := range benchSizes {
		plain := make([]byte, size)
		for _, mode := range []struct {
			name string
			det  bool
		}{{"randomized", false}, {"deterministic", true}} {
			b.Run(fmt.Sprintf("%dB/%s", size, mode.name), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := k.Encrypt(plain, mode.det); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecryptCell(b *testing.B) {
	k := mustKey(b, bytes.Repeat([]byte{3}, KeySize))
	for _, size := range benchSizes {
		cell, err := k.Encrypt(make([]byte, size), false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := k.Decrypt(cell); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawCBCHMAC is the baseline: AES-256-CBC with PKCS#7 padding and
// one HMAC-SHA-256 over IV and ciphertext, keys already expanded, fixed IV.
func BenchmarkRawCBCHMAC(b *testing.B) {
	block, err := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		b.Fatal(err)
	}
	macKey := bytes.Repeat([]byte{2}, 32)
	iv := make([]byte, aes.BlockSize)
	for _, size := range benchSizes {
		plain := make([]byte, size)
		b.Run(fmt.Sprintf("%dB/encrypt", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				pad := aes.BlockSize - len(plain)%aes.BlockSize
				ct := make([]byte, len(plain)+pad)
				copy(ct, plain)
				for i := len(plain); i < len(ct); i++ {
					ct[i] = byte(pad)
				}
				cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
				m := hmac.New(sha256.New, macKey)
				m.Write(iv)
				m.Write(ct)
				m.Sum(nil)
			}
		})
		ct := make([]byte, size+aes.BlockSize)
		b.Run(fmt.Sprintf("%dB/decrypt", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				m := hmac.New(sha256.New, macKey)
				m.Write(iv)
				m.Write(ct)
				m.Sum(nil)
				out := make([]byte, len(ct))
				cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ct)
			}
		})
	}
}
