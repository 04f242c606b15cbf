package domain

import (
	"net/netip"
	"strings"
	"testing"
)

// addrCases are every form of a public and a non-public address, as parsed addresses: the
// address checks are tested on them, and nothing ever connects to one.
var addrCases = []struct {
	addr   string
	public bool
}{
	{"93.184.216.34", true},
	{"8.8.8.8", true},
	{"2606:2800:220:1::", true},
	{"2a00:1450:4001::1", true},
	{"::ffff:93.184.216.34", true},          // IPv4-mapped, judged by the IPv4 address
	{"2606:2800::200:5efe:5db8:d822", true}, // ISATAP-style id embedding a public address

	{"127.0.0.1", false},
	{"127.255.255.254", false},
	{"10.1.2.3", false},
	{"172.16.0.1", false},
	{"172.31.255.255", false},
	{"192.168.1.1", false},
	{"169.254.169.254", false}, // cloud metadata
	{"100.64.0.1", false},      // CGNAT
	{"100.127.255.255", false},
	{"0.0.0.0", false},
	{"0.1.2.3", false},
	{"192.0.0.8", false},
	{"192.0.2.1", false},
	{"198.51.100.7", false},
	{"203.0.113.9", false},
	{"198.18.0.1", false},
	{"198.19.255.255", false},
	{"192.88.99.1", false},
	{"224.0.0.1", false},
	{"239.255.255.250", false},
	{"240.0.0.1", false},
	{"255.255.255.255", false},

	{"::", false},
	{"::1", false},
	{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
	{"::ffff:169.254.169.254", false},
	{"::ffff:10.0.0.1", false},
	{"::127.0.0.1", false}, // IPv4-compatible
	{"::10.0.0.1", false},
	{"::8.8.8.8", false},                            // IPv4-compatible, deprecated whole
	{"64:ff9b::7f00:1", false},                      // NAT64 of 127.0.0.1
	{"64:ff9b::808:808", false},                     // NAT64, refused whole
	{"64:ff9b:1::a00:1", false},                     // local-use NAT64
	{"2002:7f00:1::", false},                        // 6to4 of 127.0.0.1
	{"2002:a9fe:a9fe::1", false},                    // 6to4 of 169.254.169.254
	{"2002:808:808::1", false},                      // 6to4, refused whole
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
	{"2001::1", false},
	{"2001:db8::1", false},               // documentation
	{"3fff::1", false},                   // documentation (RFC 9637)
	{"2606:2800::5efe:7f00:1", false},    // ISATAP-style id embedding 127.0.0.1
	{"2606:2800::200:5efe:a00:1", false}, // ISATAP-style id embedding 10.0.0.1
	{"fc00::1", false},
	{"fd12:3456::1", false},
	{"fe80::1", false},
	{"fe80::1%eth0", false},
	{"fec0::1", false}, // site-local
	{"ff02::1", false},
	{"ff05::2", false},
	{"100::1", false}, // discard-only
	{"::ffff:0:0", false},
}

// Every form of a non-public address, parsed, never connected to.
func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for _, c := range addrCases {
		a, err := netip.ParseAddr(c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		if got := PublicAddr(a); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
	if PublicAddr(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

// Registration refuses literal private addresses, odd schemes, credentials and
// local names without resolving anything.
func TestCheckWebhookDestination(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"https://hooks.example.com/tf",
		"http://hooks.example.com:8080/x?y=z",
		"https://example.com./hook",
	} {
		if err := CheckWebhookDestination(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// A literal address in the URL is judged by PublicAddr: the URLs are made from the parsed
	// addresses of addrCases (never written out as destinations, never connected to).
	for _, c := range addrCases {
		a := netip.MustParseAddr(c.addr)
		host := a.String()
		if a.Is6() {
			host = "[" + strings.ReplaceAll(host, "%", "%25") + "]"
		}
		err := CheckWebhookDestination("https://" + host + "/hook")
		if (err == nil) != c.public {
			t.Errorf("%s in a URL: %v, want public=%v", c.addr, err, c.public)
		}
	}
	for _, bad := range []string{
		"ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://x.io", "javascript:alert(1)", "//x.io/h",
		"https://user:pw@hooks.example.com/", "https://user@hooks.example.com/",
		"http://127.0.0.1/", "http://127.0.0.1:8080/", "http://[::1]/",
		"http://localhost/", "http://LOCALHOST:8080/", "http://api.localhost/", "http://localhost./",
	} {
		if got := CodeOf(CheckWebhookDestination(bad)); got != CodeInvalidInput {
			t.Errorf("%s: code %q, want INVALID_INPUT", bad, got)
		}
	}
	// The host check on hosts as url.Hostname gives them (never written out as URLs): loopback
	// spelled otherwise, numeric hosts other than dotted quads (refused as a class), local names.
	for _, host := range []string{"::ffff:127.0.0.1", "2130706433", "0x7f.1", "127.1", "017700000001",
		"intranet", "printer.local", "db.internal", "router.home.arpa", "x.test", ""} {
		if got := CodeOf(checkWebhookHost(host)); got != CodeInvalidInput {
			t.Errorf("host %q: code %q, want INVALID_INPUT", host, got)
		}
	}
	for _, host := range []string{"hooks.example.com", "HOOKS.EXAMPLE.COM", "hooks.example.com.", "a1.example.org"} {
		if err := checkWebhookHost(host); err != nil {
			t.Errorf("host %q: %v, want accepted", host, err)
		}
	}
}

// FuzzAddressCheck: PublicAddr never panics, agrees between an address and its
// IPv4-mapped form, and refuses whatever the standard library calls
// loopback, private, link-local, multicast or unspecified.
func FuzzAddressCheck(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1", "8.8.8.8", "2606:4700::1", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			_ = CheckWebhookDestination("http://" + s + "/")
			_ = CheckWebhookDestination("http://[" + s + "]/")
			return
		}
		pub := PublicAddr(a)
		if a.Is4() && PublicAddr(netip.AddrFrom16(a.As16())) != pub {
			t.Fatalf("%s and its mapped form disagree", a)
		}
		if pub && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() ||
			a.Unmap().IsLoopback() || a.Unmap().IsPrivate() || a.Unmap().IsLinkLocalUnicast()) {
			t.Fatalf("%s is public", a)
		}
		host := a.String()
		if a.Is6() && !a.Is4In6() {
			host = "[" + strings.ReplaceAll(host, "%", "%25") + "]"
		}
		if pub != (CheckWebhookDestination("https://"+host+"/h") == nil) && !a.Is4In6() {
			t.Fatalf("registration and PublicAddr disagree on %s", a)
		}
	})
}
