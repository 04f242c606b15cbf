package graph

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBucketTableIsBounded: however many callers, the table holds at most maxKeys; idle keys
// (their bucket refilled) go first, and dropping them changes no one's budget.
func TestBucketTableIsBounded(t *testing.T) {
	t.Parallel()
	b := newBuckets(1, 2, 100) // refills in 2 s
	now := time.Unix(1_000_000, 0)
	for i := range 10_000 {
		b.take("k"+strconv.Itoa(i), 1, now)
		require.LessOrEqual(t, len(b.keys), 100)
	}
	// A busy caller spends its burst, and a second later has one token back.
	require.True(t, b.take("busy", 2, now).ok)
	require.False(t, b.take("busy", 1, now).ok)
	res := b.take("busy", 1, now.Add(time.Second))
	require.True(t, res.ok, "one token refilled after a second")
	require.Equal(t, 0, res.remaining)
	require.Equal(t, 2, res.limit)
	require.Equal(t, 2*time.Second, res.reset, "an empty bucket refills in 2 s")
	// A new caller two seconds on sweeps the keys idle for a whole refill (full buckets, the
	// same as new ones), not the busy one.
	b.take("new", 1, now.Add(2*time.Second))
	require.Len(t, b.keys, 2)
	require.Contains(t, b.keys, "busy")
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},           // an untrusted peer's header is ignored
		{"10.0.0.2:80", "1.2.3.4, 10.0.0.9", "1.2.3.4"},          // through two proxies
		{"10.0.0.2:80", "6.6.6.6, 1.2.3.4", "1.2.3.4"},           // the client's own entry is not trusted
		{"10.0.0.2:80", "", "10.0.0.2"},                          // nothing forwarded
		{"10.0.0.2:80", "bogus, 1.2.3.4", "1.2.3.4"},             // garbage left of the real hop
		{"[2001:db8::1]:443", "", "2001:db8::/64"},               // IPv6 per /64
		{"10.0.0.2:80", "2001:db8:0:0:ffff::1", "2001:db8::/64"}, // forwarded IPv6
		{"[::ffff:203.0.113.5]:1234", "", "203.0.113.5"},         // IPv4-mapped
	} {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		require.Equal(t, c.want, clientAddr(r, trusted), "%s %s", c.peer, c.xff)
	}
}
