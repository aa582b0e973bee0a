package benchboundary

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteText writes the report as an aligned table, one line per row, after
// a line describing the machine.
func (r *Report) WriteText(w io.Writer) error {
	m := r.Machine
	if _, err := fmt.Fprintf(w, "# %s, %d cores, %s, %s/%s, kernel %s, load %s, %s\n",
		m.CPUModel, m.Cores, m.GoVersion, m.OS, m.Arch, m.Kernel, m.LoadAvg, r.Date.Format(time.RFC3339)); err != nil {
		return err
	}
	mode := "payload in, 8-byte length out"
	if r.Echo {
		mode = "payload in and out"
	}
	if _, err := fmt.Fprintf(w, "# %s; each row at most %v or %d calls\n", mode, r.Duration, r.MaxCalls); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tpayload\tcallers\tcalls\tp50\tp99\tcalls/s\tMB/s\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%.0f\t%.1f\t\n", row.Kind, FormatSize(row.Payload), row.Callers,
			row.Calls, FormatDuration(row.P50), FormatDuration(row.P99), row.CallsPerSec, row.BytesPerSec/1e6)
	}
	return tw.Flush()
}

// FormatSize writes a payload size as "0 B", "64 B", "4 KiB", "1 MiB".
func FormatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// FormatDuration writes d with three significant digits: "812ns",
// "4.13µs", "1.25ms", "2.00s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	}
	return sig3(float64(d)/1e9) + "s"
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
