package hostport

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		v        string
		needHost bool
		want     string // "" = valid
	}{
		{"127.0.0.1:8080", true, ""},
		{":8080", false, ""},
		{":8080", true, "needs a host"},
		{"127.0.0.1:", false, "needs a port"},
		{"127.0.0.1", false, "is not host:port"},
		{"[::1]:7000", true, ""},
		{"", false, "is not host:port"},
	} {
		err := Check(tc.v, tc.needHost)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%q, %v) = %v, want nil", tc.v, tc.needHost, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%q, %v) = %v, want %q", tc.v, tc.needHost, err, tc.want)
		}
	}
}
