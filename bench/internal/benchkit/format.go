package benchkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Thousands formats n with comma separators: 1234567 is "1,234,567".
func Thousands(n int) string {
	s := fmt.Sprint(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}

// Millis returns d in milliseconds, the unit of every latency in the reports.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FormatMs formats a latency in milliseconds for a table: whole microseconds below 1 ms, two
// decimals below 100 ms, whole milliseconds above, and "-" for 0 (nothing measured).
func FormatMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// ByteSize formats a size in bytes: "512 B", "1.5 KiB", "1 MiB", "1.25 MiB".
func ByteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Snippet returns a response body for an error message: trimmed, and cut after 300 bytes.
func Snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// CommandLine renders a runner's invocation as a user would type it from the repository root:
// "go run PKG ARGS...", with the arguments a shell would split or expand single-quoted.
func CommandLine(pkg string, args []string) string {
	parts := []string{"go run " + pkg}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// WriteJSON writes v to path as indented JSON with a final newline (a runner's -json file).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
