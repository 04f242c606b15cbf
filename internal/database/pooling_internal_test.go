package database

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// A pooler on the same host may reach the server from the very port this connection has to the
// pooler: the client's end alone would take it for the server itself.
func TestServerViewNeedsTheServerPort(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 43210}
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432}
	pooler := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 16432}
	seen := serverView{clientAddr: s("127.0.0.1"), clientPort: s("43210"), serverPort: s("5432")}

	require.True(t, seen.is(local, server), "directly")
	require.True(t, seen.is(local, &net.TCPAddr{IP: net.IPv4(10, 96, 0, 10), Port: 5432}),
		"through a service address rewritten to the server's (DNAT): still this connection")
	require.False(t, seen.is(local, pooler), "through a pooler whose own port to the server equals ours to it")
	other := seen
	other.clientPort = s("43211")
	require.False(t, other.is(local, server), "another client's connection")
	require.False(t, serverView{}.is(local, server), "a Unix socket on the server's side: no addresses")
	v6 := serverView{clientAddr: s("::1"), clientPort: s("43210"), serverPort: s("5432")}
	require.True(t, v6.is(&net.TCPAddr{IP: net.IPv6loopback, Port: 43210}, &net.TCPAddr{IP: net.IPv6loopback, Port: 5432}))
}
