package benchkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   int
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {124112, "124,112"}, {1234567, "1,234,567"}, {-1234567, "-1,234,567"}, {-12, "-12"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := Thousands(tc.in); got != tc.want {
				t.Errorf("Thousands(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatMs(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "-"}, {0.358, "358µs"}, {1, "1.00ms"}, {5.534, "5.53ms"}, {99.99, "99.99ms"}, {100, "100ms"}, {1234.4, "1234ms"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := FormatMs(tc.in); got != tc.want {
				t.Errorf("FormatMs(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMillis(t *testing.T) {
	if got := Millis(1500 * time.Microsecond); got != 1.5 {
		t.Errorf("Millis(1.5ms) = %v", got)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   int
		want string
	}{
		{0, "0 B"}, {819, "819 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {1 << 20, "1 MiB"}, {5 << 19, "2.50 MiB"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := ByteSize(tc.in); got != tc.want {
				t.Errorf("ByteSize(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	if got := Snippet([]byte("  {\"error\":1}\n")); got != `{"error":1}` {
		t.Errorf("trimmed: %q", got)
	}
	long := strings.Repeat("x", 301)
	if got := Snippet([]byte(long)); got != long[:300]+"…" {
		t.Errorf("long body: %d bytes, ends %q", len(got), got[len(got)-5:])
	}
	if got := Snippet([]byte(long[:300])); got != long[:300] {
		t.Error("cut a body of exactly 300 bytes")
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		args []string
		want string
	}{
		{"./bench/httpbench", []string{"-duration", "5s", "-json", "my results.json"}, "go run ./bench/httpbench -duration 5s -json 'my results.json'"},
		{"./bench/cluster", nil, "go run ./bench/cluster"},
		{"./bench/cluster", []string{"-build-flags", "-overlay=$HOME/o.json", "-token", ""}, "go run ./bench/cluster -build-flags '-overlay=$HOME/o.json' -token ''"},
		{"./bench/cluster", []string{"-token", "it's"}, `go run ./bench/cluster -token 'it'\''s'`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := CommandLine(tc.pkg, tc.args); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	in := struct {
		Target string  `json:"target"`
		RPS    float64 `json:"requestsPerSec"`
	}{"GET /v1/fund/overview", 124111.52}
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"target\": \"GET /v1/fund/overview\",\n  \"requestsPerSec\": 124111.52\n}\n"
	if string(b) != want {
		t.Errorf("wrote %q, want %q", b, want)
	}
	if err := WriteJSON(path, func() {}); err == nil {
		t.Error("wrote a value JSON cannot encode")
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["target"] != in.Target {
		t.Errorf("read back %v, %v", back, err)
	}
}
