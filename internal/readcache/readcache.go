// Package readcache is a byte-bounded LRU of values keyed by 32-byte digests, with Prometheus
// metrics: the store behind the API's response cache (graph/readcache.go says what is cached and
// how keys are made). It knows nothing of GraphQL or positions.
//
// A small one of its own rather than a library: hashicorp/golang-lru bounds the number of
// entries, not their bytes (a board of 200 tasks is ~40 KB, a `me` a few bytes), and ristretto's
// admission policy drops new entries by design, which would turn the first repeat of a read into
// a miss; what is needed is a map, a list and a byte count under one mutex.
package readcache

import (
	"container/list"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Key is a digest (sha256) of everything an entry depends on.
type Key [32]byte

// entryOverhead is counted per entry on top of its value's size: the key, the list element and
// the map slot.
const entryOverhead = 128

// Cache is safe for concurrent use. A nil *Cache is a disabled cache: Get misses, Add drops.
type Cache[V any] struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // front: most recently used
	items map[Key]*list.Element

	hits, misses, evictions prometheus.Counter
	bytes, entries          prometheus.Gauge
}

type item[V any] struct {
	key  Key
	val  V
	size int64
}

// New returns a cache of at most maxBytes (values' sizes as given to Add, plus a fixed overhead
// per entry), registering its metrics with reg (nil: not registered) under
// taskforge_<name>_cache_*. maxBytes ≤ 0 returns nil: caching disabled.
func New[V any](name string, maxBytes int64, reg prometheus.Registerer) (*Cache[V], error) {
	if maxBytes <= 0 {
		return nil, nil
	}
	c := &Cache[V]{max: maxBytes, order: list.New(), items: map[Key]*list.Element{},
		hits:      prometheus.NewCounter(prometheus.CounterOpts{Name: "taskforge_" + name + "_cache_hits_total", Help: "Lookups that found an entry."}),
		misses:    prometheus.NewCounter(prometheus.CounterOpts{Name: "taskforge_" + name + "_cache_misses_total", Help: "Lookups that found none."}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskforge_" + name + "_cache_evictions_total", Help: "Entries dropped to stay within the byte bound."}),
		bytes:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskforge_" + name + "_cache_bytes", Help: "Bytes held (values plus a fixed overhead per entry)."}),
		entries:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskforge_" + name + "_cache_entries", Help: "Entries held."}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.hits, c.misses, c.evictions, c.bytes, c.entries} {
			if err := reg.Register(m); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Get returns the value under k and marks it recently used.
func (c *Cache[V]) Get(k Key) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		c.misses.Inc()
		return zero, false
	}
	c.order.MoveToFront(e)
	c.hits.Inc()
	return e.Value.(*item[V]).val, true
}

// Add stores v (of size bytes) under k, replacing what was there, and evicts the least recently
// used entries beyond the bound. A value larger than a quarter of the bound is not stored: one
// huge response must not flush everything else.
func (c *Cache[V]) Add(k Key, v V, size int64) {
	if c == nil {
		return
	}
	size += entryOverhead
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		it := e.Value.(*item[V])
		c.used += size - it.size
		it.val, it.size = v, size
		c.order.MoveToFront(e)
	} else {
		c.items[k] = c.order.PushFront(&item[V]{key: k, val: v, size: size})
		c.used += size
	}
	for c.used > c.max {
		e := c.order.Back()
		it := e.Value.(*item[V])
		c.order.Remove(e)
		delete(c.items, it.key)
		c.used -= it.size
		c.evictions.Inc()
	}
	c.bytes.Set(float64(c.used))
	c.entries.Set(float64(len(c.items)))
}

// Len is the number of entries held.
func (c *Cache[V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
