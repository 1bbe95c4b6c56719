package benchkit

import (
	"fmt"
	"net/netip"
)

// MaxSources is how many loopback source addresses SourceAddr can name (127.0.0.1 to
// 127.255.255.254 without those ending in .0 or .255).
const MaxSources = 254 * 256 * 256

// SourceAddr returns the loopback address that connection i (numbered from 0 over every
// worker or client) dials from: the first perIP connections from 127.0.0.1, the next perIP from
// 127.0.0.2, and so on, skipping addresses that end in .0 or .255. The node admits at most
// push.max_conns_per_ip connections per address; spreading them keeps the node's defaults.
// Linux routes the whole of 127.0.0.0/8 to the loopback interface, so every such address can
// be bound without configuration.
func SourceAddr(i, perIP int) (netip.Addr, error) {
	if i < 0 || perIP < 1 {
		return netip.Addr{}, fmt.Errorf("source address of connection %d with %d per address", i, perIP)
	}
	k := i / perIP
	if k >= MaxSources {
		return netip.Addr{}, fmt.Errorf("connection %d needs source address %d; 127.0.0.0/8 has %d usable ones", i, k+1, MaxSources)
	}
	block := k / 254
	return netip.AddrFrom4([4]byte{127, byte(block >> 8), byte(block), byte(k%254 + 1)}), nil
}
