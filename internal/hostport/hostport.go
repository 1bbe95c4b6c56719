// Package hostport checks the host:port addresses of the configuration, so that every
// component's Validate words the same mistake the same way.
package hostport

import (
	"fmt"
	"net"
)

// Check reports what is wrong with v as a host:port address (nil when nothing is): not
// host:port, no port, or no host when needHost (an address others must dial, not one to bind).
func Check(v string, needHost bool) error {
	host, port, err := net.SplitHostPort(v)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not host:port: %v", v, err)
	case needHost && host == "":
		return fmt.Errorf("%q needs a host", v)
	case port == "":
		return fmt.Errorf("%q needs a port", v)
	}
	return nil
}
