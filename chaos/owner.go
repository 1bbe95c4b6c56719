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
// (pid → name): it finds the peer's socket in /proc/net/tcp by its port and then the process
// holding that socket in /proc/<pid>/fd. Every process is on 127.0.0.1, so the port is all
// that tells the peers apart. It returns Unknown when no process of pids holds it (the test's
// own clients) or off Linux.
func ConnOwner(c net.Conn, pids map[int]string) string {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return Unknown
	}
	inode := socketInode(remote.Port, local.Port)
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
// remotePort, or "".
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
