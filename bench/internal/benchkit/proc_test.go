package benchkit

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paimon/internal/testutil"
)

func startSh(t *testing.T, script string) *Proc {
	t.Helper()
	p, err := StartProc(ProcSpec{Name: "sh", Bin: "sh", Args: []string{"-c", script}, Dir: t.TempDir(),
		LogPath: filepath.Join(t.TempDir(), "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	return p
}

func waitExited(t *testing.T, p *Proc) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if !p.Exited() {
			return errors.New("still running")
		}
		return nil
	})
}

// waitLogLine waits until the last line of p's log is line.
func waitLogLine(t *testing.T, p *Proc, line string) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if got := p.LogTail(1); got != line {
			return fmt.Errorf("last log line %q, want %q", got, line)
		}
		return nil
	})
}

func TestProcExit(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProc(ProcSpec{Name: "sh", Bin: "sh", Args: []string{"-c", "pwd; echo one; echo two >&2; echo three; exit 3"},
		Dir: dir, LogPath: filepath.Join(t.TempDir(), "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	waitExited(t, p)
	if p.ExitCode() != 3 || p.Err() == nil {
		t.Errorf("exit code %d, err %v", p.ExitCode(), p.Err())
	}
	if got := p.LogTail(2); got != "two\nthree" {
		t.Errorf("LogTail(2) = %q", got)
	}
	if got, want := p.LogTail(10), dir+"\none\ntwo\nthree"; got != want {
		t.Errorf("LogTail(10) = %q", got)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop after exit: %v", err)
	}
	if p.Name() != "sh" || p.CPUSeconds() != 0 {
		t.Errorf("name %q, CPU after exit %v", p.Name(), p.CPUSeconds())
	}
}

func TestProcStop(t *testing.T) {
	p := startSh(t, "echo started; exec sleep 30")
	waitLogLine(t, p, "started")
	if p.Exited() || p.ExitCode() != -1 || p.Err() != nil || p.Pid() <= 0 {
		t.Fatalf("running child: exited %v, code %d, err %v, pid %d", p.Exited(), p.ExitCode(), p.Err(), p.Pid())
	}
	t0 := time.Now()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || p.ExitCode() != -1 || time.Since(t0) > 5*time.Second {
		t.Errorf("after Stop: exited %v, code %d (want -1: ended by SIGTERM), took %s", p.Exited(), p.ExitCode(), time.Since(t0))
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestProcStopKills(t *testing.T) {
	// An ignored SIGTERM stays ignored across exec, so sleep ignores it too.
	p := startSh(t, "trap '' TERM; echo started; exec sleep 30")
	waitLogLine(t, p, "started")
	err := p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "sh did not stop within 200ms after SIGTERM; killed") {
		t.Errorf("Stop = %v", err)
	}
	if !p.Exited() {
		t.Error("still running after Stop")
	}
}

func TestProcStartFails(t *testing.T) {
	_, err := StartProc(ProcSpec{Name: "ghost", Bin: "/nonexistent/bin", LogPath: filepath.Join(t.TempDir(), "ghost.log")})
	if err == nil || !strings.Contains(err.Error(), "start ghost") {
		t.Errorf("err = %v", err)
	}
	if _, err := StartProc(ProcSpec{Name: "x", Bin: "sh", LogPath: filepath.Join(t.TempDir(), "no", "such", "dir.log")}); err == nil {
		t.Error("started with a log path that cannot be created")
	}
}

func TestNilProc(t *testing.T) {
	var p *Proc
	p.Terminate()
	if err := p.Stop(time.Second); err != nil || p.ExitCode() != -1 || p.CPUSeconds() != 0 {
		t.Errorf("nil Proc: stop %v, code %d", err, p.ExitCode())
	}
}

func TestStatCPUSeconds(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       float64
	}{
		{"plain", "1234 (paimon) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3},
		{"spaces and parens in the name", "1234 (a b) c) R 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0", 0.1},
		{"too short", "1234 (x) S 1 2 3", 0},
		{"no name", "garbage", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatCPUSeconds([]byte(tc.stat)); got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCPUSeconds(t *testing.T) {
	p := startSh(t, "i=0; while :; do i=$((i+1)); done")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if p.CPUSeconds() <= 0 {
			return errors.New("no CPU time yet")
		}
		return nil
	})
	if SelfCPUSeconds() <= 0 {
		t.Error("the test process used no CPU")
	}
}
