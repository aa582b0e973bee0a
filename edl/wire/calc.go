package wire

import "fmt"

// Integer is any Go integer type an EDL size or count expression can use.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

// Calc evaluates size and count expressions in uint64 and remembers the
// first negative operand, overflow, underflow or division by zero. The zero
// value is ready to use.
type Calc struct {
	reason string
}

func (c *Calc) fail(reason string) uint64 {
	if c.reason == "" {
		c.reason = reason
	}
	return 0
}

// Num converts v to uint64, failing c if v is negative.
func Num[T Integer](c *Calc, v T) uint64 {
	if v < 0 {
		return c.fail(fmt.Sprintf("negative size operand %d", int64(v)))
	}
	return uint64(v)
}

// Add returns a+b, failing on overflow.
func (c *Calc) Add(a, b uint64) uint64 {
	if a+b < a {
		return c.fail("size overflows uint64")
	}
	return a + b
}

// Sub returns a-b, failing on underflow.
func (c *Calc) Sub(a, b uint64) uint64 {
	if b > a {
		return c.fail("size underflows")
	}
	return a - b
}

// Mul returns a*b, failing on overflow.
func (c *Calc) Mul(a, b uint64) uint64 {
	if a != 0 && b > ^uint64(0)/a {
		return c.fail("size overflows uint64")
	}
	return a * b
}

// Div returns a/b, failing when b is zero.
func (c *Calc) Div(a, b uint64) uint64 {
	if b == 0 {
		return c.fail("division by zero in size")
	}
	return a / b
}

// OK reports whether every operation so far succeeded.
func (c *Calc) OK() bool { return c.reason == "" }

// Reason describes the first failure, or "" if none.
func (c *Calc) Reason() string { return c.reason }
