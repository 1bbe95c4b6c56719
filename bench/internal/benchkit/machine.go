package benchkit

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Machine describes where a benchmark ran. Results on a small shared machine compare only
// within one run, so every report says what the machine was and how busy.
type Machine struct {
	NumCPU    int    // runtime.NumCPU
	CPU       string // the model name in /proc/cpuinfo; "" when unknown
	Kernel    string // /proc/sys/kernel/osrelease; "" when unknown
	GoVersion string // of the go command that builds the binaries, without "go"
	Commit    string // git describe --always --dirty in the repository; "" when unknown
	LoadAvg   string // the load averages when it was read (see LoadAvg)
}

// ReadMachine describes this machine, with the commit checked out in repo.
func ReadMachine(repo string) Machine {
	m := Machine{
		NumCPU:    runtime.NumCPU(),
		GoVersion: strings.TrimPrefix(FirstLine("go", "env", "GOVERSION"), "go"),
		LoadAvg:   LoadAvg(),
	}
	if m.GoVersion == "" {
		m.GoVersion = strings.TrimPrefix(runtime.Version(), "go")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// cpuModel returns the first "model name" in the text of /proc/cpuinfo, or "".
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// LoadAvg returns the 1, 5 and 15 minute load averages ("0.52 0.61 0.70"), or "" when
// /proc/loadavg cannot be read: on a shared machine they say how much else was running.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return firstThreeFields(string(b))
}

func firstThreeFields(s string) string {
	f := strings.Fields(s)
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Platform renders the CPU model and kernel release as the end of a "machine:" line,
// ", MODEL, linux RELEASE", leaving out what is unknown ("").
func Platform(cpu, kernel string) string {
	var s string
	if cpu != "" {
		s += ", " + cpu
	}
	if kernel != "" {
		s += ", linux " + kernel
	}
	return s
}

// FirstLine returns the first line of a command's combined output, for version strings. The
// command's exit status is ignored because some tools (wrk -v) exit non-zero; a command that
// cannot run gives "".
func FirstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
