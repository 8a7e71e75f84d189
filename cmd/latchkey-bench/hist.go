package main

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets: exact below 128 ns,
// then 128 buckets per power of two, so any value is reported to within
// 1/128 (0.8%) of what was recorded. It is not safe for concurrent use:
// each worker keeps its own and they are merged at the end.
type histogram struct {
	counts [histBuckets]int64
	n      int64
	max    int64
	sum    int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	// Enough powers of two for values up to 2^(histSubBits+histOctaves) ns,
	// about 18 minutes; anything longer is counted in the last bucket.
	histOctaves = 34
	histBuckets = histSub + histOctaves*histSub
)

func histIndex(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - histSubBits - 1 // v >> exp is in [128, 256)
	i := histSub + exp*histSub + int(v>>exp) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histUpper is the largest value bucket i holds.
func histUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	exp := (i - histSub) / histSub
	sub := int64((i-histSub)%histSub + histSub)
	return (sub+1)<<exp - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the value at or below which a fraction q (0 to 1) of the
// recorded values lie: the upper edge of the bucket holding it, never more
// than the largest value recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histUpper(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// latencies are the percentiles a run reports.
type latencies struct {
	p50, p90, p99, max time.Duration
}

func (h *histogram) latencies() latencies {
	return latencies{p50: h.quantile(0.50), p90: h.quantile(0.90), p99: h.quantile(0.99), max: time.Duration(h.max)}
}

// fmtDur prints a duration in microseconds or milliseconds, three
// significant digits or so, for tables.
func fmtDur(d time.Duration) string {
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2f µs", float64(d)/1e3)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
}
