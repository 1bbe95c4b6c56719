package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// workerProc is the runner's handle on one worker process.
type workerProc struct {
	id      int
	span    span
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logPath string

	replies chan *report  // answers to commands
	ready   chan struct{} // closed at the "ready" report
	done    chan struct{} // closed when its output ends (it exited)

	mu   sync.Mutex
	last report // the latest progress, ready or stats report
	err  error  // a fatal report, a bad line, or how it exited
}

// workerArgs are the settings every worker gets.
type workerArgs struct {
	url             string
	token           string
	perIP           int
	dialConcurrency int
	readBuffer      int
	pollInterval    time.Duration
}

// startWorker starts this program again as worker id for the connections of sp. Like the
// node, it gets its own process group (Ctrl-C reaches the runner only, which then stops it)
// and dies with the runner.
func startWorker(id int, sp span, a workerArgs, dir string) (*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("worker%d.log", id))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-worker", "-url", a.url, "-first", strconv.Itoa(sp.First), "-count", strconv.Itoa(sp.Count),
		"-per-ip", strconv.Itoa(a.perIP), "-dial-concurrency", strconv.Itoa(a.dialConcurrency), "-read-buffer", strconv.Itoa(a.readBuffer),
		"-poll-interval", a.pollInterval.String())
	cmd.Env = append(os.Environ(), tokenEnv+"="+a.token)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start worker %d: %w", id, err)
	}
	wp := &workerProc{id: id, span: sp, cmd: cmd, stdin: stdin, logPath: logPath,
		replies: make(chan *report, 1), ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		wp.readReports(stdout)
		werr := cmd.Wait()
		logf.Close()
		wp.mu.Lock()
		if wp.err == nil && werr != nil {
			wp.err = fmt.Errorf("worker %d exited: %v (log %s)", id, werr, logPath)
		}
		wp.mu.Unlock()
		close(wp.done)
	}()
	return wp, nil
}

// readReports dispatches the worker's report lines until its output ends.
func (wp *workerProc) readReports(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	readyClosed := false
	for sc.Scan() {
		r, err := decodeReport(sc.Bytes())
		if err != nil {
			wp.setErr(fmt.Errorf("worker %d: %w", wp.id, err))
			continue
		}
		switch r.Type {
		case repFatal:
			wp.setErr(fmt.Errorf("worker %d: %s", wp.id, r.Message))
		case repStats:
			wp.setLast(r)
			select {
			case wp.replies <- r:
			default: // nobody asked: keep only the latest
			}
		default:
			wp.setLast(r)
			if r.Type == repReady && !readyClosed {
				readyClosed = true
				close(wp.ready)
			}
		}
	}
	if err := sc.Err(); err != nil {
		wp.setErr(fmt.Errorf("worker %d: reading its reports: %w", wp.id, err))
	}
}

func (wp *workerProc) setErr(err error) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.err == nil {
		wp.err = err
	}
}

func (wp *workerProc) setLast(r *report) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.last = *r
}

// latest returns the latest report and the worker's error, if any.
func (wp *workerProc) latest() (report, error) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	return wp.last, wp.err
}

// ask sends a command and waits for its stats report.
func (wp *workerProc) ask(cmd string, timeout time.Duration) (*report, error) {
	select { // drop an unasked-for reply
	case <-wp.replies:
	default:
	}
	if _, err := io.WriteString(wp.stdin, cmd+"\n"); err != nil {
		return nil, wp.failure(err)
	}
	select {
	case r := <-wp.replies:
		return r, nil
	case <-wp.done:
		return nil, wp.failure(errors.New("it exited"))
	case <-time.After(timeout):
		return nil, fmt.Errorf("worker %d did not answer %q within %s (log %s)", wp.id, cmd, timeout, wp.logPath)
	}
}

func (wp *workerProc) failure(cause error) error {
	if _, err := wp.latest(); err != nil {
		return err
	}
	return fmt.Errorf("worker %d: %w (log %s)", wp.id, cause, wp.logPath)
}

// stop asks the worker to quit (it closes its connections) and kills it after grace.
func (wp *workerProc) stop(grace time.Duration) {
	_, _ = io.WriteString(wp.stdin, cmdQuit+"\n")
	_ = wp.stdin.Close()
	select {
	case <-wp.done:
	case <-time.After(grace):
		_ = wp.cmd.Process.Kill()
		<-wp.done
	}
}

// kill ends the worker at once (Ctrl-C).
func (wp *workerProc) kill() {
	_ = wp.cmd.Process.Kill()
	<-wp.done
}

// pool is every worker.
type pool []*workerProc

// askAll sends cmd to every worker at once and returns their reports in worker order.
func (p pool) askAll(cmd string, timeout time.Duration) ([]*report, error) {
	reps := make([]*report, len(p))
	errs := make([]error, len(p))
	var wg sync.WaitGroup
	for i, wp := range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = wp.ask(cmd, timeout)
		}()
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

// totals adds up the workers' reports.
func totals(reps []*report) report {
	var t report
	t.CloseCodes = map[string]int{}
	withConns := false
	for _, r := range reps {
		t.Opened += r.Opened
		t.Refused += r.Refused
		t.Failed += r.Failed
		t.SubscribeFailed += r.SubscribeFailed
		t.Open += r.Open
		t.Closed += r.Closed
		t.Received += r.Received
		t.BadEvents += r.BadEvents
		t.Resets += r.Resets
		t.Errors += r.Errors
		t.Other += r.Other
		t.CPUSeconds += r.CPUSeconds
		for k, v := range r.CloseCodes {
			t.CloseCodes[k] += v
		}
		if t.FirstRefusal == "" {
			t.FirstRefusal = r.FirstRefusal
		}
		if t.FirstError == "" {
			t.FirstError = r.FirstError
		}
		if t.FirstClose == "" {
			t.FirstClose = r.FirstClose
		}
		if t.Sample == "" {
			t.Sample, t.FrameLen = r.Sample, r.FrameLen
		}
		if r.Opened > 0 {
			if !withConns || r.MinPerConn < t.MinPerConn {
				t.MinPerConn = r.MinPerConn
			}
			withConns = true
			t.MaxPerConn = max(t.MaxPerConn, r.MaxPerConn)
		}
	}
	return t
}
