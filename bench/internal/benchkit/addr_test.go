package benchkit

import "testing"

func TestSourceAddr(t *testing.T) {
	for _, tc := range []struct {
		i, perIP int
		want     string
	}{
		{0, 1000, "127.0.0.1"},
		{999, 1000, "127.0.0.1"},
		{1000, 1000, "127.0.0.2"},
		{19799, 1000, "127.0.0.20"},
		{253, 1, "127.0.0.254"},
		{254, 1, "127.0.1.1"}, // .255 and .0 are skipped
		{254*256 + 3, 1, "127.1.0.4"},
		{MaxSources - 1, 1, "127.255.255.254"},
	} {
		got, err := SourceAddr(tc.i, tc.perIP)
		if err != nil || got.String() != tc.want {
			t.Errorf("SourceAddr(%d, %d) = %v, %v; want %s", tc.i, tc.perIP, got, err, tc.want)
		}
	}
	for _, bad := range [][2]int{{-1, 10}, {0, 0}, {MaxSources, 1}} {
		if a, err := SourceAddr(bad[0], bad[1]); err == nil {
			t.Errorf("SourceAddr(%d, %d) = %v", bad[0], bad[1], a)
		}
	}
}
