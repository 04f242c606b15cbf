package config

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Limits bound what one request, one caller and the process may use. Zero values take the API's
// defaults (graph.Options, graph.RateLimits), given here for reference.
//
//	GRAPHQL_MAX_COMPLEXITY      cost limit of an operation; lists multiply their items' cost by
//	                            their page size or bound (default 200000)
//	GRAPHQL_MAX_ROWS            rows one response may serve (default 50000)
//	GRAPHQL_MAX_RESPONSE_BYTES  bytes of one HTTP response, e.g. 16MiB (default 16 MiB)
//	GRAPHQL_TIMEOUT             operation timeout; cancels its SQL (default 15s)
//	RATE_LIMIT                  true or false: per-caller budgets (default true)
//	RATE_LIMIT_REQUESTS         requests per second per principal (default 20)
//	RATE_LIMIT_REQUEST_BURST    (default 60)
//	RATE_LIMIT_COST             query cost per second per principal (default 100000)
//	RATE_LIMIT_COST_BURST       at least GRAPHQL_MAX_COMPLEXITY (default 5 × it)
//	RATE_LIMIT_ANONYMOUS        unauthenticated requests and websocket handshakes per second
//	                            per client address, and separately refused tokens (default 5)
//	RATE_LIMIT_ANONYMOUS_BURST  (default 20)
//	RATE_LIMIT_TRUSTED_PROXIES  comma-separated CIDRs or addresses of the load balancers in
//	                            front of the API, whose X-Forwarded-For names the client (default
//	                            none: behind a load balancer, set it, or every anonymous client
//	                            and websocket handshake shares the balancer's budget)
//	MEMORY_LIMIT                Go's soft memory limit, e.g. 768MiB, or off (default: ¾ of the
//	                            cgroup's memory.max, else 1GiB); GOMEMLIMIT, when set, wins
type Limits struct {
	MaxComplexity        int
	MaxRows              int
	MaxResponseBytes     int64
	OperationTimeout     time.Duration
	RateLimit            bool
	RequestsPerSecond    float64
	RequestBurst         int
	CostPerSecond        float64
	CostBurst            int
	AnonymousPerSecond   float64
	AnonymousBurst       int
	TrustedProxies       []netip.Prefix
	MemoryLimit          int64 // bytes; 0: none
	MemoryLimitFromGoEnv bool  // GOMEMLIMIT is set: the runtime applied it, MEMORY_LIMIT is ignored
}

// defaultMemoryLimit leaves a quarter of a container's memory to the runtime's non-heap memory
// and the kernel; outside a container, 1 GiB holds the service's working set many times over.
func defaultMemoryLimit() int64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n / 4 * 3
		}
	}
	return 1 << 30
}

func readLimits() (Limits, error) {
	l := Limits{RateLimit: true}
	ints := []struct {
		key string
		dst *int
	}{
		{"GRAPHQL_MAX_COMPLEXITY", &l.MaxComplexity}, {"GRAPHQL_MAX_ROWS", &l.MaxRows},
		{"RATE_LIMIT_REQUEST_BURST", &l.RequestBurst}, {"RATE_LIMIT_COST_BURST", &l.CostBurst},
		{"RATE_LIMIT_ANONYMOUS_BURST", &l.AnonymousBurst},
	}
	for _, i := range ints {
		if v := os.Getenv(i.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return l, fmt.Errorf("%s: want a positive number, got %q", i.key, v)
			}
			*i.dst = n
		}
	}
	rates := []struct {
		key string
		dst *float64
	}{{"RATE_LIMIT_REQUESTS", &l.RequestsPerSecond}, {"RATE_LIMIT_COST", &l.CostPerSecond}, {"RATE_LIMIT_ANONYMOUS", &l.AnonymousPerSecond}}
	for _, r := range rates {
		if v := os.Getenv(r.key); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return l, fmt.Errorf("%s: want a positive number per second, got %q", r.key, v)
			}
			*r.dst = f
		}
	}
	if v := os.Getenv("RATE_LIMIT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return l, fmt.Errorf("RATE_LIMIT: want true or false, got %q", v)
		}
		l.RateLimit = b
	}
	for _, v := range strings.Split(os.Getenv("RATE_LIMIT_TRUSTED_PROXIES"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return l, fmt.Errorf("RATE_LIMIT_TRUSTED_PROXIES: want CIDRs or addresses, got %q", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l.TrustedProxies = append(l.TrustedProxies, p)
	}
	if v := os.Getenv("GRAPHQL_MAX_RESPONSE_BYTES"); v != "" {
		n, err := parseBytes(v)
		if err != nil || n < 1 {
			return l, fmt.Errorf("GRAPHQL_MAX_RESPONSE_BYTES: want a size such as 16MiB, got %q", v)
		}
		l.MaxResponseBytes = n
	}
	if v := os.Getenv("GRAPHQL_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return l, fmt.Errorf("GRAPHQL_TIMEOUT: want a positive duration such as 15s, got %q", v)
		}
		l.OperationTimeout = d
	}
	l.MemoryLimitFromGoEnv = os.Getenv("GOMEMLIMIT") != ""
	switch v := os.Getenv("MEMORY_LIMIT"); {
	case v == "":
		l.MemoryLimit = defaultMemoryLimit()
	case strings.EqualFold(v, "off"):
	default:
		n, err := parseBytes(v)
		if err != nil || n < 64<<20 {
			return l, fmt.Errorf("MEMORY_LIMIT: want a size of at least 64MiB such as 1GiB, or off; got %q", v)
		}
		l.MemoryLimit = n
	}
	return l, nil
}

// parseBytes reads a size in GOMEMLIMIT's syntax: a number of bytes with an optional B, KiB,
// MiB, GiB or TiB suffix.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	shift := uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n << shift, nil
}
