package chaos

import (
	"encoding/binary"
	"net"
	"syscall"
)

// sockDiagByFamily is SOCK_DIAG_BY_FAMILY (linux/sock_diag.h), the request type of an
// inet_diag_req_v2.
const sockDiagByFamily = 20

// diagSocketInode asks the kernel (NETLINK_INET_DIAG, the interface ss uses) for the inode of
// the one IPv4 TCP socket bound to local and connected to remote: an exact lookup in the
// kernel's socket hash, whose cost does not grow with the sockets the machine holds, unlike a
// read of /proc/net/tcp. ok is false when the kernel cannot be asked (no netlink, not IPv4):
// the caller then reads /proc/net/tcp; inode is 0 when no such socket exists (any more).
func diagSocketInode(local, remote *net.TCPAddr) (inode uint32, ok bool) {
	src, dst := local.IP.To4(), remote.IP.To4()
	if src == nil || dst == nil {
		return 0, false
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return 0, false
	}
	defer syscall.Close(fd)
	tv := syscall.Timeval{Sec: 1}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return 0, false
	}
	// struct nlmsghdr (16 bytes) + struct inet_diag_req_v2 (56 bytes). Ports and addresses
	// are big-endian, everything else in the host's order.
	req := make([]byte, 72)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], syscall.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	req[16], req[17] = syscall.AF_INET, syscall.IPPROTO_TCP
	ne.PutUint32(req[20:], ^uint32(0)) // every state
	id := req[24:]                     // struct inet_diag_sockid
	binary.BigEndian.PutUint16(id[0:], uint16(local.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(remote.Port))
	copy(id[4:], src)
	copy(id[20:], dst)
	ne.PutUint32(id[40:], ^uint32(0)) // INET_DIAG_NOCOOKIE, both words
	ne.PutUint32(id[44:], ^uint32(0))
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, false
	}
	buf := make([]byte, 4096)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, false
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil || len(msgs) == 0 {
		return 0, false
	}
	m := msgs[0]
	switch {
	case m.Header.Type == syscall.NLMSG_ERROR && len(m.Data) >= 4:
		if errno := -int32(ne.Uint32(m.Data)); syscall.Errno(errno) == syscall.ENOENT {
			return 0, true // no such socket: its process closed it
		}
		return 0, false
	case m.Header.Type == sockDiagByFamily && len(m.Data) >= 72:
		return ne.Uint32(m.Data[68:]), true // struct inet_diag_msg's idiag_inode
	}
	return 0, false
}
