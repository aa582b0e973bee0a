package benchboundary

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in bounded memory: log-linear buckets with
// 64 sub-buckets per power of two, so a quantile is within 1/64 (1.6 %) of
// the true value, whatever the number of samples. The zero value is ready
// to use; it is not safe for concurrent use (give each caller its own and
// Merge them).
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max time.Duration
	sum      float64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits // per power of two
	// Values below subBuckets ns get a bucket each; above, each power of
	// two from 2^subBits to 2^63 gets subBuckets buckets.
	numBuckets = subBuckets + (63-subBits+1)*subBuckets
)

// bucketOf returns the bucket of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1)), e >= subBits
	m := (v >> (e - subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + int(m)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < subBuckets {
		return uint64(i), 1
	}
	e := i/subBuckets + subBits - 1
	m := uint64(i % subBuckets)
	width = 1 << (e - subBits)
	return 1<<e + m*width, width
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds the samples of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest sample (exact), 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest sample (exact), 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean of the samples, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 <= q <= 1) of the samples: the
// sample of rank ceil(q·n) (at least 1), to within the bucket resolution,
// as the middle of its bucket clamped to [Min, Max]. It returns 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			v := time.Duration(lo + w/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
