package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/taskforge/taskforge/internal/auth"
)

// CodeRateLimited refuses a request or operation over its budget; extensions.retryAfter says how
// many seconds to wait (also in the Retry-After header over HTTP, answered 429).
const CodeRateLimited = "RATE_LIMITED"

// RateLimits are the token buckets of the API. An authenticated caller (the token's subject) has
// a budget of requests and a budget of query cost (the cost model of limits.go: a cheap query
// costs little, an expensive one drains the bucket faster); requests without a principal —
// anonymous ones and websocket handshakes, whose token only comes in the connection's init
// message — are budgeted per client address. The zero value is the production defaults; set
// Disabled to turn every budget off.
type RateLimits struct {
	Disabled bool
	// Requests per second per principal (default 20), with bursts of RequestBurst (default 60).
	Requests     float64
	RequestBurst int
	// Cost per second per principal (default 100000), with bursts of CostBurst (default five
	// operations of the complexity limit); CostBurst must be at least the complexity limit, or
	// the most expensive allowed operation could never run.
	Cost      float64
	CostBurst int
	// Anonymous requests and websocket handshakes per second per client address (default 5),
	// with bursts of AnonymousBurst (default 20); the same rates, separately, for requests whose
	// token the verifier refuses. IPv6 addresses count per /64.
	Anonymous      float64
	AnonymousBurst int
	// MaxKeys bounds each budget's table of principals or addresses (default 100000): idle
	// keys, whose bucket has refilled, are dropped first.
	MaxKeys int
	// TrustedProxies are the load balancers and proxies in front of the API: a request from one
	// of them is budgeted by the client address it forwards (the right-most X-Forwarded-For
	// entry that is not itself a trusted proxy). Without them, everyone behind a load balancer
	// would share its address's budget; with them, no one else can choose their own key.
	TrustedProxies []netip.Prefix
}

func (o *RateLimits) validate(maxComplexity int) error {
	if o.Disabled {
		return nil
	}
	if o.Requests == 0 {
		o.Requests = 20
	}
	if o.RequestBurst == 0 {
		o.RequestBurst = 60
	}
	if o.Cost == 0 {
		o.Cost = 100_000
	}
	if o.CostBurst == 0 {
		o.CostBurst = mulCost(5, maxComplexity)
	}
	if o.Anonymous == 0 {
		o.Anonymous = 5
	}
	if o.AnonymousBurst == 0 {
		o.AnonymousBurst = 20
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 100_000
	}
	switch {
	case o.Requests < 0 || o.Cost < 0 || o.Anonymous < 0 || o.RequestBurst < 1 || o.AnonymousBurst < 1 || o.MaxKeys < 1:
		return errors.New("graph: rate limits must be positive")
	case o.CostBurst < maxComplexity:
		return fmt.Errorf("graph: the cost burst (%d) is below the complexity limit (%d)", o.CostBurst, maxComplexity)
	}
	return nil
}

// RateLimitError refuses a request or operation over its budget.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit exceeded; retry in %d s", retrySeconds(e.RetryAfter))
}

// retrySeconds rounds a wait up to whole seconds (Retry-After's unit), at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// rateLimits are the API's budgets; nil when disabled.
type rateLimits struct {
	requests, cost, anonymous *buckets
	// failures are the requests whose token the verifier refused, per address (at the
	// anonymous rates): a client replaying or guessing tokens is slowed as an anonymous one is.
	failures *buckets
	trusted  []netip.Prefix
}

func newRateLimits(o RateLimits) *rateLimits {
	if o.Disabled {
		return nil
	}
	return &rateLimits{
		requests:  newBuckets(o.Requests, o.RequestBurst, o.MaxKeys),
		cost:      newBuckets(o.Cost, o.CostBurst, o.MaxKeys),
		anonymous: newBuckets(o.Anonymous, o.AnonymousBurst, o.MaxKeys),
		failures:  newBuckets(o.Anonymous, o.AnonymousBurst, o.MaxKeys),
		trusted:   o.TrustedProxies,
	}
}

// middleware charges the request to its principal's or its address's budget (answering 429 past
// it, with the budget's RateLimit-* headers either way), then serves it through a cappedWriter
// of maxResponse bytes. It runs after authentication (withRequest).
func (l *rateLimits) middleware(maxResponse int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrade := r.Header.Get("Upgrade") != ""
		if l != nil {
			b, key := l.anonymous, clientAddr(r, l.trusted)
			if p, ok := auth.PrincipalFrom(r.Context()); ok && !upgrade {
				b, key = l.requests, p.UserID
			}
			res := b.take(key, 1, time.Now())
			res.setHeaders(w.Header())
			if !res.ok {
				writeRateLimited(w, res.wait)
				return
			}
		}
		if upgrade {
			next.ServeHTTP(w, r) // the upgrade hijacks the writer
			return
		}
		cw := &cappedWriter{ResponseWriter: w, max: maxResponse}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), cappedWriterKey{}, cw)))
		if cw.status != 0 {
			cw.start()
		}
	})
}

// failedAuth wraps authentication (withRequest): a request carrying a token the verifier refuses
// (401) is charged to its address's failures, and once they are spent, requests carrying a token
// from that address are refused before verification until the budget refills. A client sharing
// the address (behind one NAT) with a token guesser waits too: the price of not verifying every
// guess. Websocket upgrades pass (their handshakes are charged as anonymous requests).
func (l *rateLimits) failedAuth(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		key, now := clientAddr(r, l.trusted), time.Now()
		if wait := l.failures.emptyFor(key, now); wait > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(wait), 10))
			writeRateLimited(w, wait)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			l.failures.take(key, 1, now)
		}
	})
}

// statusRecorder notes the status of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// chargeCost charges an operation's cost to its principal's budget. Over HTTP a refusal is
// answered 429 with Retry-After; over a websocket it is the operation's error.
func (l *rateLimits) chargeCost(ctx context.Context, cost int) error {
	if l == nil {
		return nil
	}
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return nil // anonymous: counted per request by address; every field needs a principal
	}
	res := l.cost.take(p.UserID, cost, time.Now())
	if res.ok {
		return nil
	}
	if w := writerFrom(ctx); w != nil {
		res.setHeaders(w.Header())
		w.refused.Store(http.StatusTooManyRequests)
	}
	return &RateLimitError{RetryAfter: res.wait}
}

func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	err := &RateLimitError{RetryAfter: wait}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []*gqlerror.Error{{
		Message: err.Error(), Extensions: map[string]any{"code": CodeRateLimited, "retryAfter": retrySeconds(wait)},
	}}})
}

// clientAddr is the budget key of an unauthenticated request: the client's address, IPv6 per
// /64 (one host commonly holds a whole /64). The client is the peer, or, when the peer is a
// trusted proxy, the address it forwards (see RateLimits.TrustedProxies).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if isTrusted(a, trusted) {
		// Right to left: each trusted proxy appended the address it received from.
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // garbage: keep the last address known
			}
			if a = h.Unmap(); !isTrusted(a, trusted) {
				break
			}
		}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// buckets are token buckets by key, in a table of bounded size.
type buckets struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	// refill is how long an empty bucket takes to fill: a key idle that long has a full bucket,
	// the same as a new one, so dropping it loses nothing.
	refill time.Duration

	mu        sync.Mutex
	keys      map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newBuckets(perSecond float64, burst, maxKeys int) *buckets {
	return &buckets{
		limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys,
		refill: time.Duration(float64(burst) / perSecond * float64(time.Second)),
		keys:   map[string]*bucket{},
	}
}

// taken is a budget's answer: whether n tokens were taken, else how long until they could be,
// and the bucket's state for the RateLimit-* headers.
type taken struct {
	ok        bool
	wait      time.Duration
	limit     int
	remaining int
	reset     time.Duration // until the bucket is full again
}

func (b *buckets) take(key string, n int, now time.Time) taken {
	lim := b.limiter(key, now)
	res := taken{ok: true, limit: b.burst}
	r := lim.ReserveN(now, n)
	switch {
	case !r.OK(): // more than the burst: never (the cost limit keeps operations below it)
		res.ok, res.wait = false, b.refill
	case r.DelayFrom(now) > 0:
		res.ok, res.wait = false, r.DelayFrom(now)
		r.CancelAt(now)
	}
	tokens := max(0, lim.TokensAt(now))
	res.remaining = int(tokens)
	if b.limit > 0 {
		res.reset = time.Duration((float64(b.burst) - tokens) / float64(b.limit) * float64(time.Second))
	}
	return res
}

// emptyFor is how long key's bucket stays without a whole token (0: it has one), without
// taking any, and without adding key to the table (an unknown key has a full bucket).
func (b *buckets) emptyFor(key string, now time.Time) time.Duration {
	b.mu.Lock()
	k, ok := b.keys[key]
	b.mu.Unlock()
	if !ok {
		return 0
	}
	if tokens := k.lim.TokensAt(now); tokens < 1 && b.limit > 0 {
		return time.Duration((1 - tokens) / float64(b.limit) * float64(time.Second))
	}
	return 0
}

func (b *buckets) limiter(key string, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k, ok := b.keys[key]; ok {
		k.last = now
		return k.lim
	}
	if len(b.keys) >= b.maxKeys || now.Sub(b.lastSweep) > b.refill {
		b.sweep(now)
	}
	k := &bucket{lim: rate.NewLimiter(b.limit, b.burst), last: now}
	b.keys[key] = k
	return k.lim
}

// sweep drops the keys idle long enough to have a full bucket; if the table is still full (many
// keys active at once), arbitrary ones, whose callers then start over with a full bucket: the
// table's memory stays bounded whatever the number of callers.
func (b *buckets) sweep(now time.Time) {
	b.lastSweep = now
	for key, k := range b.keys {
		if now.Sub(k.last) >= b.refill {
			delete(b.keys, key)
		}
	}
	for key := range b.keys {
		if len(b.keys) < b.maxKeys {
			break
		}
		delete(b.keys, key)
	}
}

func (t taken) setHeaders(h http.Header) {
	h.Set("RateLimit-Limit", strconv.Itoa(t.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(t.remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(t.reset.Seconds())), 10))
	if !t.ok {
		h.Set("Retry-After", strconv.FormatInt(retrySeconds(t.wait), 10))
	}
}
