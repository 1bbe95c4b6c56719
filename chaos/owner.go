package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// ConnOwner names the local process that opened the TCP connection c accepted, among pids
// (pid → name): it finds the inode of the peer's socket (the one bound to c's remote address
// and connected to c's local one) and then the process holding that socket in /proc/<pid>/fd.
// Every process is on 127.0.0.1, so the port is all that tells the peers apart. It returns
// Unknown when no process of pids holds it (the test's own clients) or off Linux.
//
// The inode comes from the kernel's socket hash (diagSocketInode), not from a read of
// /proc/net/tcp, which lists every TCP socket of the machine: with 10,000-36,000 of them (a
// WebSocket benchmark running beside the suite) that read cost 0.15-0.5 s under the race
// detector, a proxy forwards nothing before it knows the source, and on a loaded machine the
// naming of the connections that Raft elections open fell behind until every handshake timed
// out (5 s) and no leader was elected for a minute (bench/RESULTS.md §15, seed 585145192).
func ConnOwner(c net.Conn, pids map[int]string) string {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return Unknown
	}
	var inode string
	if ino, ok := diagSocketInode(remote, local); ok {
		if ino != 0 {
			inode = strconv.FormatUint(uint64(ino), 10)
		}
	} else {
		inode = socketInode(remote.Port, local.Port)
	}
	if inode == "" {
		return Unknown
	}
	want := "socket:[" + inode + "]"
	for pid, name := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == want {
				return name
			}
		}
	}
	return Unknown
}

// socketInode returns the inode of the IPv4 socket bound to localPort and connected to
// remotePort, or "", from /proc/net/tcp: the way when the kernel cannot be asked directly.
func socketInode(localPort, remotePort int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	lp := fmt.Sprintf(":%04X", localPort)
	rp := fmt.Sprintf(":%04X", remotePort)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !strings.HasSuffix(fields[1], lp) || !strings.HasSuffix(fields[2], rp) {
			continue
		}
		if _, err := strconv.ParseUint(fields[9], 10, 64); err == nil && fields[9] != "0" {
			return fields[9]
		}
	}
	return ""
}
