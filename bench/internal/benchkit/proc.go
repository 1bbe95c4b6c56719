package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcSpec says what StartProc runs.
type ProcSpec struct {
	Name    string   // how messages name the child: "node", "bare", "node1"
	Bin     string   // the executable
	Args    []string // its arguments
	Dir     string   // its working directory; "" for the runner's
	LogPath string   // the file (created or truncated) that gets its stdout and stderr
}

// Proc is a child process started by StartProc, with its output in a log file.
type Proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the child has exited and err is set
	err     error
}

// StartProc starts the child described by s. The child gets its own process group, so that a
// Ctrl-C in the terminal reaches only the runner, which then stops its children in order; and
// a parent-death signal (SIGTERM), so that a killed runner leaves no child behind.
func StartProc(s ProcSpec) (*Proc, error) {
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Proc{name: s.Name, logPath: s.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Name returns the child's name as given in its ProcSpec.
func (p *Proc) Name() string { return p.name }

// LogPath returns the file that holds the child's output.
func (p *Proc) LogPath() string { return p.logPath }

// Pid returns the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns what waiting for the child returned once it has exited (nil for a zero exit
// status), and nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitCode returns the status the child exited with; -1 while it runs, when a signal ended it,
// and for a nil Proc (one that was never started).
func (p *Proc) ExitCode() int {
	if p == nil || !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Terminate sends SIGTERM without waiting, so that several children stop in parallel. It does
// nothing to a child that has exited or to a nil Proc.
func (p *Proc) Terminate() {
	if p != nil && !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// Stop sends SIGTERM, waits up to grace for the child to exit, then kills it and says so. It
// is safe to call more than once, on a child that already exited, and on a nil Proc. What a
// non-zero exit status means is the caller's to say: see ExitCode.
func (p *Proc) Stop(grace time.Duration) error {
	if p == nil || p.Exited() {
		return nil
	}
	p.Terminate()
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.name, grace)
	}
}

// LogTail returns the last n lines of the child's log, for error messages; "" when the log is
// empty or cannot be read.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CPUSeconds returns the user+system CPU time the child has used so far (all its threads),
// from /proc/PID/stat; 0 once it has exited or when that cannot be read.
func (p *Proc) CPUSeconds() float64 {
	if p == nil || p.Exited() {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	return StatCPUSeconds(b)
}

// StatCPUSeconds reads utime and stime from the text of /proc/PID/stat, in clock ticks
// (USER_HZ, 100 on Linux); 0 when the text is not such a line.
func StatCPUSeconds(stat []byte) float64 {
	// The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state); utime and stime are fields 14 and 15
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// SelfCPUSeconds returns the runner's own user+system CPU time: a load generator shares the
// machine with the processes it measures, so its share belongs in the report.
func SelfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
