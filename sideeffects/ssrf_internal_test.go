package sideeffects

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, public := range map[string]bool{
		"93.184.216.34":        true,
		"2606:2800:220:1::":    true,
		"127.0.0.1":            false,
		"::1":                  false,
		"10.1.2.3":             false,
		"172.16.0.1":           false,
		"192.168.1.1":          false,
		"169.254.169.254":      false, // cloud metadata
		"100.64.0.1":           false,
		"0.0.0.0":              false,
		"::":                   false,
		"fe80::1":              false,
		"fc00::1":              false,
		"::ffff:127.0.0.1":     false, // IPv4-mapped loopback
		"::ffff:93.184.216.34": true,
		"224.0.0.1":            false,
		"198.18.0.1":           false,
		"2001:db8::1":          false,
	} {
		require.Equal(t, public, publicAddr(netip.MustParseAddr(addr)), addr)
	}
}

// The dialer's check, on the addresses a resolver may hand it, without dialing anything.
func TestCheckDialAddress(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"93.184.216.34:443":           true,
		"[2606:2800:220:1::]:443":     true,
		"127.0.0.1:80":                false,
		"[::1]:80":                    false,
		"[::ffff:169.254.169.254]:80": false,
		"[2002:a9fe:a9fe::]:80":       false,
		"[64:ff9b::a9fe:a9fe]:80":     false,
		"[2001:0:4136:e378::1]:80":    false,
		"[fe80::1%eth0]:80":           false,
		"10.0.0.1:443":                false,
		"hooks.example.com:443":       false, // never a name: the dialer checks resolved addresses
		"not an address":              false,
	} {
		err := checkDialAddress(addr)
		require.Equal(t, ok, err == nil, addr)
		if err != nil {
			require.ErrorIs(t, err, ErrDestinationNotAllowed)
			require.NotContains(t, err.Error(), addr)
		}
	}
}
