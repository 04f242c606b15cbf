package sideeffects

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/taskforge/taskforge/domain"
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
		dialer.Control = func(_, address string, _ syscall.RawConn) error { return checkDialAddress(address) }
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer.DialContext
	t.Proxy = nil // a proxy would connect on our behalf and bypass the check
	return t
}

// checkDialAddress is the dialer's check of the "ip:port" it is about to connect to (after name
// resolution, before any packet is sent). The address stays out of the error: it is what a name
// resolved to (see describeFailure).
func checkDialAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !publicAddr(ap.Addr()) {
		return ErrDestinationNotAllowed
	}
	return nil
}

// publicAddr is the one rule of what a webhook may reach, shared with registration.
func publicAddr(a netip.Addr) bool { return domain.PublicAddr(a) }
