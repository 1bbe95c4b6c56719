//go:build !linux

package chaos

import "net"

// diagSocketInode is Linux only (owner_linux.go); elsewhere the kernel cannot be asked.
func diagSocketInode(local, remote *net.TCPAddr) (inode uint32, ok bool) { return 0, false }
