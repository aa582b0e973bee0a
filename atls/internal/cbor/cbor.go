// Package cbor is the subset of CBOR (RFC 8949) that attested TLS needs:
// an encoder for unsigned integers, byte and text strings, arrays, maps and
// tags, and a strict decoder for any well-formed, definite-length item.
//
// The decoder rejects indefinite lengths, reserved additional-information
// values, duplicate map keys, nesting deeper than MaxDepth and trailing
// data, and never allocates more than the input could hold. Decoded byte
// and text strings are copies; nothing aliases the input.
package cbor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Major types (RFC 8949 §3.1).
const (
	Uint   byte = 0
	NegInt byte = 1
	Bytes  byte = 2
	Text   byte = 3
	Array  byte = 4
	Map    byte = 5
	Tag    byte = 6
	Simple byte = 7
)

// MaxDepth is the deepest nesting of arrays, maps and tags Decode accepts.
const MaxDepth = 16

// ErrMalformed is matched by every decoding error.
var ErrMalformed = errors.New("cbor: malformed")

// Item is a decoded data item.
type Item struct {
	// Major is the major type.
	Major byte
	// Arg is the head's argument: the value of an unsigned integer, -1-n
	// for a negative integer, the tag number, the simple value, or the raw
	// bits of a float.
	Arg uint64
	// Bytes holds a byte or text string's contents.
	Bytes []byte
	// Items holds an array's elements, a map's keys and values
	// alternately, or a tag's single content item.
	Items []Item
}

// Lookup returns the value of the map entry whose key is the text string
// key, or nil.
func (it *Item) Lookup(key string) *Item {
	if it.Major != Map {
		return nil
	}
	for i := 0; i+1 < len(it.Items); i += 2 {
		k := &it.Items[i]
		if k.Major == Text && string(k.Bytes) == key {
			return &it.Items[i+1]
		}
	}
	return nil
}

// Decode decodes exactly one data item from b.
func Decode(b []byte) (*Item, error) {
	d := decoder{b: b}
	it, err := d.item(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the data item", ErrMalformed, len(b)-d.off)
	}
	return &it, nil
}

type decoder struct {
	b   []byte
	off int
}

func (d *decoder) need(n uint64) error {
	if n > uint64(len(d.b)-d.off) {
		return fmt.Errorf("%w: truncated at offset %d (need %d bytes, have %d)", ErrMalformed, d.off, n, len(d.b)-d.off)
	}
	return nil
}

// head reads an initial byte and its argument.
func (d *decoder) head() (major, info byte, arg uint64, err error) {
	if err := d.need(1); err != nil {
		return 0, 0, 0, err
	}
	ib := d.b[d.off]
	d.off++
	major, info = ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, info, uint64(info), nil
	case info <= 27:
		n := uint64(1) << (info - 24)
		if err := d.need(n); err != nil {
			return 0, 0, 0, err
		}
		for i := uint64(0); i < n; i++ {
			arg = arg<<8 | uint64(d.b[d.off])
			d.off++
		}
		return major, info, arg, nil
	case info == 31:
		return 0, 0, 0, fmt.Errorf("%w: indefinite length at offset %d", ErrMalformed, d.off-1)
	default:
		return 0, 0, 0, fmt.Errorf("%w: reserved additional information %d at offset %d", ErrMalformed, info, d.off-1)
	}
}

func (d *decoder) item(depth int) (Item, error) {
	if depth > MaxDepth {
		return Item{}, fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, MaxDepth)
	}
	major, info, arg, err := d.head()
	if err != nil {
		return Item{}, err
	}
	it := Item{Major: major, Arg: arg}
	switch major {
	case Uint, NegInt:
	case Bytes, Text:
		if err := d.need(arg); err != nil {
			return Item{}, err
		}
		it.Bytes = append([]byte{}, d.b[d.off:d.off+int(arg)]...)
		d.off += int(arg)
	case Array, Map:
		n := arg
		if major == Map {
			if n > math.MaxUint64/2 {
				return Item{}, fmt.Errorf("%w: map of %d pairs", ErrMalformed, n)
			}
			n *= 2
		}
		// Every item takes at least one byte: a count larger than what is
		// left cannot be honest, and must not size an allocation.
		if err := d.need(n); err != nil {
			return Item{}, err
		}
		it.Items = make([]Item, 0, n)
		for i := uint64(0); i < n; i++ {
			sub, err := d.item(depth + 1)
			if err != nil {
				return Item{}, err
			}
			it.Items = append(it.Items, sub)
		}
		if major == Map {
			if err := checkKeys(it.Items); err != nil {
				return Item{}, err
			}
		}
	case Tag:
		sub, err := d.item(depth + 1)
		if err != nil {
			return Item{}, err
		}
		it.Items = []Item{sub}
	case Simple:
		if info == 24 && arg < 32 {
			return Item{}, fmt.Errorf("%w: two-byte simple value %d", ErrMalformed, arg)
		}
	}
	return it, nil
}

// checkKeys refuses a map whose keys repeat. Only keys that are integers
// or strings are compared; other key types are rare and left alone.
func checkKeys(kv []Item) error {
	for i := 0; i < len(kv); i += 2 {
		for j := i + 2; j < len(kv); j += 2 {
			a, b := &kv[i], &kv[j]
			if a.Major != b.Major {
				continue
			}
			switch a.Major {
			case Uint, NegInt:
				if a.Arg == b.Arg {
					return fmt.Errorf("%w: duplicate map key %d", ErrMalformed, a.Arg)
				}
			case Bytes, Text:
				if string(a.Bytes) == string(b.Bytes) {
					return fmt.Errorf("%w: duplicate map key %q", ErrMalformed, a.Bytes)
				}
			}
		}
	}
	return nil
}

// AppendHead appends the shortest head for major type major and argument
// arg.
func AppendHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(b, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(arg))
	case arg <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(arg))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), arg)
}

// AppendUint appends an unsigned integer.
func AppendUint(b []byte, v uint64) []byte { return AppendHead(b, Uint, v) }

// AppendBytes appends a byte string.
func AppendBytes(b, v []byte) []byte { return append(AppendHead(b, Bytes, uint64(len(v))), v...) }

// AppendText appends a text string.
func AppendText(b []byte, v string) []byte {
	return append(AppendHead(b, Text, uint64(len(v))), v...)
}
