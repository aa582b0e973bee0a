package benchboundary

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 1<<20 + 12345, 1<<40 - 1, 1 << 62, math.MaxUint64 >> 1, math.MaxUint64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d; want 0..%d", v, i, numBuckets-1)
		}
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Errorf("bucketOf(%d) = %d covering [%d, %d+%d); want it to hold the value", v, i, lo, lo, w)
		}
		// Resolution: a bucket is at most 1/64 of its smallest value wide.
		if w > 1 && w*subBuckets > lo {
			t.Errorf("bucket %d [%d, +%d) is wider than 1/%d of its values", i, lo, w, subBuckets)
		}
	}
	// Buckets are contiguous and increasing.
	for i := 1; i < numBuckets; i++ {
		plo, pw := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if plo+pw != lo {
			t.Fatalf("bucket %d starts at %d; bucket %d ends at %d", i, lo, i-1, plo+pw)
		}
	}
}

// samples returns n deterministic, spread-out durations: a
// multiplicative-hash sequence mapped onto 100ns..10ms logarithmically.
func samples(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		u := float64(uint32(uint64(i+1)*2654435761)) / (1 << 32)
		out[i] = time.Duration(100 * math.Pow(1e5, u))
	}
	return out
}

func TestHistogramQuantile(t *testing.T) {
	for _, n := range []int{1, 2, 99, 1000, 50000} {
		data := samples(n)
		var h Histogram
		for _, d := range data {
			h.Record(d)
		}
		sorted := slices.Clone(data)
		slices.Sort(sorted)
		if h.Count() != uint64(n) || h.Min() != sorted[0] || h.Max() != sorted[n-1] {
			t.Errorf("n=%d: Count, Min, Max = %d, %v, %v; want %d, %v, %v", n, h.Count(), h.Min(), h.Max(), n, sorted[0], sorted[n-1])
		}
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(n))), 1)
			want := sorted[rank-1]
			got := h.Quantile(q)
			if diff := math.Abs(float64(got - want)); diff > float64(want)/subBuckets+1 {
				t.Errorf("n=%d: Quantile(%v) = %v; want %v within 1/%d", n, q, got, want, subBuckets)
			}
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	data := samples(3000)
	var all, a, b, empty Histogram
	for i, d := range data {
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&empty)
	m.Merge(&b)
	if m != all {
		t.Errorf("merging the halves of a histogram = count %d min %v max %v; want count %d min %v max %v", m.Count(), m.Min(), m.Max(), all.Count(), all.Min(), all.Max())
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Errorf("empty histogram: Quantile, Mean, Max = %v, %v, %v; want 0", h.Quantile(0.5), h.Mean(), h.Max())
	}
	h.Record(-5)
	h.Record(300)
	if h.Min() != 0 || h.Mean() != 150 {
		t.Errorf("Record(-5), Record(300): Min, Mean = %v, %v; want 0, 150", h.Min(), h.Mean())
	}
	if got := h.Quantile(2); got != 300*time.Nanosecond {
		t.Errorf("Quantile(2) = %v; want the maximum 300ns", got)
	}
}

// BenchmarkTimeNow is the baseline of BenchmarkRecord: reading the clock
// once is the overhead added to every call measured.
func BenchmarkTimeNow(b *testing.B) {
	var t time.Time
	for range b.N {
		t = time.Now()
	}
	_ = t
}

// BenchmarkRecord is the cost of timing one call and recording it.
func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for range b.N {
		t := time.Now()
		h.Record(time.Since(t))
	}
}
