package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// findRepo returns the root of the paimon module: dir if given, else the nearest folder at or
// above the working directory whose go.mod declares "module paimon".
func findRepo(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if isPaimonRoot(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				return "", fmt.Errorf("no paimon go.mod at or above %s: run from the repository or pass -repo", wd)
			}
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if !isPaimonRoot(abs) {
		return "", fmt.Errorf("%s has no go.mod declaring module paimon", abs)
	}
	return abs, nil
}

func isPaimonRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(line)) == "module paimon"
}

// goBuild builds pkg (relative to the repository) into out, with extra go build flags.
func goBuild(ctx context.Context, repo, out, pkg string, flags []string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// checkFree fails with a clear message when addr cannot be listened on: the example files use
// fixed ports, so a cluster left running (another -hold) is the usual cause.
func checkFree(addr, what string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s is not free (is another cluster running, e.g. go run ./bench/cluster -hold?): %w", what, addr, err)
	}
	return ln.Close()
}

// proc is a child process (a node) with its output in a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set when done is closed
}

// startProc starts bin with args in dir, output to logPath. The child gets its own process
// group, so a Ctrl-C in the terminal reaches only the runner, which then stops the children;
// and a parent-death signal, so that a killed runner leaves no node behind.
func startProc(name, dir, logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends SIGTERM without waiting, so that several nodes stop in parallel.
func (p *proc) signal() {
	if p != nil && !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// stop sends SIGTERM, waits up to grace for a clean exit, then kills. It is safe to call more
// than once and on a process that already exited.
func (p *proc) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	if !p.exited() {
		p.signal()
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.name, grace)
		}
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.Exited() && ee.ExitCode() != 0 {
		return fmt.Errorf("%s exited with code %d (log: %s)", p.name, ee.ExitCode(), p.logPath)
	}
	return nil
}

// logTail returns the last n lines of the process's log, for error messages.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty log: -node-log-level debug or info says more)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cpuSeconds is the user+system CPU time the process has used so far (all its threads), from
// /proc/PID/stat in clock ticks (USER_HZ, 100 on Linux).
func (p *proc) cpuSeconds() float64 {
	if p == nil || p.exited() {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state); utime and stime are fields 14 and 15
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// selfCPUSeconds is the runner's own user+system CPU time: the load generator shares the
// machine with the nodes.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// firstLine returns the first line of a command's combined output (for version strings).
func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
