package dashboard

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// Charts are SVG drawn here, on the server: no chart library to ship, no
// script needed to see them, and nothing a Content-Security-Policy must
// loosen for (colours come from classes in app.css, not style attributes).
// Every chart comes with its numbers as a table, for screen readers and
// for anyone who wants the figures.

// codeLabels name the outcomes in legends.
var codeLabels = map[latchkey.Code]string{
	latchkey.CodeValid:                   "Valid",
	latchkey.CodeNotFound:                "Not found",
	latchkey.CodeExpired:                 "Expired",
	latchkey.CodeDisabled:                "Disabled",
	latchkey.CodeInsufficientPermissions: "Insufficient permissions",
	latchkey.CodeIPNotAllowed:            "Address not allowed",
	latchkey.CodeRateLimited:             "Rate limited",
}

// usageChart is a stacked bar chart of verifications by outcome, one bar
// per bucket, with the same numbers as rows of a table.
type usageChart struct {
	Title       string
	BucketLabel string
	SVG         template.HTML
	Legend      []legendEntry
	Rows        []chartRow
	Total       int64
}

type legendEntry struct {
	Label, Class string
	Total        int64
}

type chartRow struct {
	Label  string
	Counts []int64
}

// Drawing area of a chart, in SVG user units (it scales to its box).
const (
	chartWidth  = 720
	chartHeight = 170
	chartTop    = 26  // room above the peak for its label, at phone sizes too
	chartBottom = 140 // the axis; labels below
	chartLeft   = 44
)

// newUsageChart buckets counts (already summed into buckets of width, as
// the store returns them) over [from, to), every bucket shown, empty ones
// too, so that time reads left to right at an even pace.
func newUsageChart(title string, counts []latchkey.UsageCount, from, to time.Time, bucket latchkey.UsageBucket) usageChart {
	width := bucket.Width()
	from = from.UTC().Truncate(width)
	n := int(to.Sub(from) / width)
	if to.Sub(from)%width != 0 {
		n++
	}
	n = max(n, 1)
	grid := make([][]int64, n) // [bucket][code]
	for i := range grid {
		grid[i] = make([]int64, len(latchkey.Codes))
	}
	codeIndex := map[latchkey.Code]int{}
	for i, c := range latchkey.Codes {
		codeIndex[c] = i
	}
	totals := make([]int64, len(latchkey.Codes))
	var peak, total int64
	for _, c := range counts {
		i := int(c.Minute.Sub(from) / width)
		ci, ok := codeIndex[c.Code]
		if i < 0 || i >= n || !ok {
			continue
		}
		grid[i][ci] += c.Count
		totals[ci] += c.Count
		total += c.Count
	}
	for _, row := range grid {
		var sum int64
		for _, v := range row {
			sum += v
		}
		peak = max(peak, sum)
	}
	chart := usageChart{Title: title, BucketLabel: map[latchkey.UsageBucket]string{
		latchkey.BucketMinute: "Minute (UTC)", latchkey.BucketHour: "Hour (UTC)", latchkey.BucketDay: "Day (UTC)",
	}[bucket], Total: total}
	// The legend shows valid and every outcome that occurred, so that a
	// quiet chart is not a wall of zeros.
	var shown []int
	for ci, c := range latchkey.Codes {
		if c == latchkey.CodeValid || totals[ci] > 0 {
			shown = append(shown, ci)
			chart.Legend = append(chart.Legend, legendEntry{Label: codeLabels[c], Class: codeClass(c), Total: totals[ci]})
		}
	}
	for i, row := range grid {
		var sum int64
		for _, v := range row {
			sum += v
		}
		if sum == 0 {
			continue
		}
		cr := chartRow{Label: bucketLabel(from.Add(time.Duration(i)*width), bucket)}
		for _, ci := range shown {
			cr.Counts = append(cr.Counts, row[ci])
		}
		chart.Rows = append(chart.Rows, cr)
	}
	chart.SVG = drawBars(title, grid, peak, from, width, bucket)
	return chart
}

// drawBars draws the stacked bars.
func drawBars(title string, grid [][]int64, peak int64, from time.Time, width time.Duration, bucket latchkey.UsageBucket) template.HTML {
	var b strings.Builder
	const id = "usage-chart-title" // a page shows one chart
	fmt.Fprintf(&b, `<svg class="bars" viewBox="0 0 %d %d" role="img" aria-labelledby="%s">`, chartWidth, chartHeight, id)
	fmt.Fprintf(&b, `<title id="%s">%s</title>`, id, template.HTMLEscapeString(title))
	plot := float64(chartBottom - chartTop)
	slot := float64(chartWidth-chartLeft) / float64(len(grid))
	bar := max(slot*0.8, 1)
	scale := 0.0
	if peak > 0 {
		scale = plot / float64(peak)
	}
	// Axis, and the peak as the one gridline.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartLeft, chartBottom, chartWidth, chartBottom)
	fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">0</text>`, chartLeft-6, chartBottom+4)
	if peak > 0 {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartLeft, chartTop, chartWidth, chartTop)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">%s</text>`, chartLeft-6, chartTop+4, shortCount(peak))
	}
	for i, row := range grid {
		x := float64(chartLeft) + float64(i)*slot + (slot-bar)/2
		y := float64(chartBottom)
		for ci, v := range row {
			if v == 0 {
				continue
			}
			h := float64(v) * scale
			y -= h
			fmt.Fprintf(&b, `<rect class="code-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, codeClass(latchkey.Codes[ci]), x, y, bar, max(h, 0.5))
		}
	}
	// Three time labels: the start, the middle and the end.
	for _, i := range []int{0, len(grid) / 2, len(grid) - 1} {
		x := float64(chartLeft) + float64(i)*slot + slot/2
		anchor := "middle"
		if i == 0 {
			anchor = "start"
			x = chartLeft
		} else if i == len(grid)-1 {
			anchor = "end"
			x = chartWidth
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, chartBottom+20, anchor,
			template.HTMLEscapeString(bucketLabel(from.Add(time.Duration(i)*width), bucket)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// sparkline draws a key's verifications per bucket as a small line, all
// outcomes together; the label says the total, for screen readers.
func sparkline(counts []latchkey.UsageCount, from time.Time, n int, width time.Duration) template.HTML {
	values := make([]int64, n)
	var peak, total int64
	for _, c := range counts {
		if i := int(c.Minute.Sub(from) / width); i >= 0 && i < n {
			values[i] += c.Count
			total += c.Count
		}
	}
	for _, v := range values {
		peak = max(peak, v)
	}
	const w, h = 100, 24
	var pts strings.Builder
	for i, v := range values {
		y := float64(h - 2)
		if peak > 0 {
			y = float64(h-2) - float64(v)/float64(peak)*float64(h-4)
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", float64(i)*float64(w)/float64(max(n-1, 1)), y)
	}
	label := formatCount(total) + " verifications in the last 24 hours"
	class := "spark"
	if total == 0 {
		class += " empty"
	}
	return template.HTML(fmt.Sprintf(`<svg class="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><polyline points="%s"/></svg>`,
		class, w, h, w, h, label, strings.TrimSpace(pts.String())))
}

func codeClass(c latchkey.Code) string { return strings.ToLower(string(c)) }

func bucketLabel(t time.Time, bucket latchkey.UsageBucket) string {
	switch bucket {
	case latchkey.BucketMinute:
		return t.UTC().Format("15:04")
	case latchkey.BucketHour:
		return t.UTC().Format("Jan 2 15:00")
	}
	return t.UTC().Format("Jan 2")
}

// shortCount writes a count for an axis: 950, 12k, 3.4M.
func shortCount(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return formatCount(n)
}
