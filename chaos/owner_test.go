package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// holdSocketsEnv makes the test binary hold that many idle loopback connection pairs until its
// stdin closes, instead of running tests (TestMain): the machine's socket table grows by twice
// that while this process's open files do not.
const holdSocketsEnv = "CHAOS_HOLD_SOCKETS"

// holdSockets opens n loopback connection pairs, says "ready" on stdout and waits for stdin to
// close.
func holdSockets(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	var held []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		a, err := ln.Accept()
		if err != nil {
			fmt.Println(err)
			return
		}
		held = append(held, c, a)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(held)
}

// TestConnOwnerCostFlat checks that naming a connection's owner does not cost a read of the
// machine's whole socket table. With 4,000 more sockets on the machine (held by a child
// process), ConnOwner must find the peer's socket by asking the kernel (netlink), and that
// lookup must take less than a quarter of one read of /proc/net/tcp, the way it found the
// peer's socket until the campaign's "after 1m0s: no leader" (bench/RESULTS.md §15):
// a proxy forwards nothing before ConnOwner returns, and that read, 0.15-0.5 s under the race
// detector with 10,000-36,000 sockets, held every Raft handshake past its 5 s timeout on a
// loaded machine. Both lookups must find the same socket, and none once the peer is gone. The
// time compared is the socket lookup's alone: the rest of ConnOwner (a walk of the named
// processes' open files) does not depend on the machine's sockets, and timing it with the
// lookup made the ratio fail under a loaded full suite (0.31 against 0.25: 236 µs, most of it
// the walk, against 765 µs).
func TestConnOwnerCostFlat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ConnOwner names processes on Linux only")
	}
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdSocketsEnv+"=2000")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = holder.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the socket holder: %q %v", line, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	self := map[int]string{os.Getpid(): "self"}
	var owner, scan []time.Duration
	for range 5 {
		out, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		in, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if name := ConnOwner(in, self); name != "self" {
			t.Fatalf("ConnOwner named %q, want self", name)
		}
		remote, local := in.RemoteAddr().(*net.TCPAddr), in.LocalAddr().(*net.TCPAddr)
		start := time.Now()
		fromProc := socketInode(remote.Port, local.Port)
		scan = append(scan, time.Since(start))
		start = time.Now()
		fromKernel, ok := diagSocketInode(remote, local)
		owner = append(owner, time.Since(start))
		if !ok || fromProc == "" || strconv.FormatUint(uint64(fromKernel), 10) != fromProc {
			t.Fatalf("the peer's socket: inode %d (asked: %v) from the kernel, %q from /proc/net/tcp", fromKernel, ok, fromProc)
		}
		out.Close()
		for end := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if ino, ok := diagSocketInode(remote, local); ok && ino == 0 {
				break
			} else if time.Now().After(end) {
				t.Fatalf("the closed peer's socket still found: inode %d (asked: %v)", ino, ok)
			}
		}
		if name := ConnOwner(in, self); name != Unknown {
			t.Fatalf("ConnOwner named %q for a peer that closed, want %s", name, Unknown)
		}
		in.Close()
	}
	slices.Sort(owner)
	slices.Sort(scan)
	o, s := owner[len(owner)/2], scan[len(scan)/2]
	t.Logf("median of %d: ConnOwner's socket lookup %s, one read of /proc/net/tcp %s (%.3fx)", len(owner), o, s, float64(o)/float64(s))
	if o*4 > s {
		t.Fatalf("ConnOwner's socket lookup took %s, a read of /proc/net/tcp %s: it must not cost a scan of the machine's sockets", o, s)
	}
}
