package benchkit

import (
	"os"
	"testing"
)

func TestCPUModel(t *testing.T) {
	const cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModel(cpuinfo); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("processor\t: 0\n"); got != "" {
		t.Errorf("no model name: %q", got)
	}
}

func TestFirstThreeFields(t *testing.T) {
	if got := firstThreeFields("0.68 1.91 2.09 1/83 9761\n"); got != "0.68 1.91 2.09" {
		t.Errorf("got %q", got)
	}
	if got := firstThreeFields("0.68 1.91"); got != "" {
		t.Errorf("two fields: %q", got)
	}
}

func TestPlatform(t *testing.T) {
	for _, tc := range []struct{ cpu, kernel, want string }{
		{"AMD EPYC", "6.1.0", ", AMD EPYC, linux 6.1.0"},
		{"", "6.1.0", ", linux 6.1.0"},
		{"AMD EPYC", "", ", AMD EPYC"},
		{"", "", ""},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := Platform(tc.cpu, tc.kernel); got != tc.want {
				t.Errorf("Platform(%q, %q) = %q, want %q", tc.cpu, tc.kernel, got, tc.want)
			}
		})
	}
}

func TestReadMachine(t *testing.T) {
	m := ReadMachine(t.TempDir()) // not a git checkout: no commit
	if m.NumCPU < 1 || m.GoVersion == "" || m.Commit != "" {
		t.Errorf("ReadMachine = %+v", m)
	}
	if _, err := os.Stat("/proc/loadavg"); err == nil && m.LoadAvg == "" {
		t.Error("no load average although /proc/loadavg exists")
	}
}

func TestFirstLine(t *testing.T) {
	if got := FirstLine("sh", "-c", "echo '  one  '; echo two; exit 1"); got != "one" {
		t.Errorf("FirstLine = %q", got)
	}
	if got := FirstLine("/nonexistent/tool", "-v"); got != "" {
		t.Errorf("missing tool: %q", got)
	}
}
