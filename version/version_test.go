package version

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"0.1", "0.2", -1}, {"0.2", "0.2", 0}, {"0.10", "0.9", 1}, {"1.0", "0.99", 1},
		{"", "0.1", -1}, {"0.1", "", 1}, {"", "", 0}, {"x", "0.1", -1}, {"0.2", "junk", 1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if !Valid(Cluster) || !Valid(Base) || Compare(Base, Cluster) > 0 {
		t.Fatalf("Cluster %q and Base %q must be valid, Base <= Cluster", Cluster, Base)
	}
}

func TestGetFallsBack(t *testing.T) {
	in := Get()
	if in.Release == "" || in.Commit == "" || in.Date == "" || in.Cluster != Cluster {
		t.Fatalf("Get() = %+v: every field must be set", in)
	}
	if release == "" && in.Release != "devel" {
		t.Fatalf("without ldflags the release is devel, got %q", in.Release)
	}
	if s := in.String(); !strings.Contains(s, in.Release) || !strings.Contains(s, in.Commit) {
		t.Fatalf("String() = %q", s)
	}
}
