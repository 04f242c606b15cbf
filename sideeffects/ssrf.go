package sideeffects

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrDestinationNotAllowed is the error of a webhook attempt whose address is on a network a
// webhook must not reach (loopback, private, link-local such as cloud metadata, multicast...).
var ErrDestinationNotAllowed = errors.New("webhook destination address not allowed")

// webhookTransport returns the transport of webhook deliveries. Unless allowPrivate, it refuses to
// connect to addresses outside the public internet. The check runs in the dialer's Control hook,
// on the address actually being connected to after DNS resolution, so a name that resolves (or
// re-resolves: DNS rebinding) to an internal address is refused too. Workspace admins choose
// webhook URLs; without this, any of them could make the service probe its own network.
func webhookTransport(allowPrivate bool) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrDestinationNotAllowed, address)
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrDestinationNotAllowed, ap.Addr())
			}
			return nil
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer.DialContext
	t.Proxy = nil // a proxy would connect on our behalf and bypass the check
	return t
}

// nonPublic lists the ranges, beyond what netip's predicates cover, that are not the public
// internet: carrier-grade NAT, benchmarking, documentation and reserved ranges, IPv6 NAT64 and
// documentation.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
