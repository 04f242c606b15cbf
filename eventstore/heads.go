package eventstore

import (
	"bytes"
	"sync"
)

// headCacheSize bounds the head cache; at about 150 bytes an entry it stays under 16 MiB.
const headCacheSize = 100_000

// headCache remembers, per stream, the hash of one version: the latest this process appended or
// read. An entry is never wrong, only old — the event at a version never changes — so a stale entry
// costs a conflict or a fallback to the general append path, never a broken chain.
type headCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]head
}

type head struct {
	version    int64
	hash       []byte
	streamType string
}

func newHeadCache(max int) *headCache {
	return &headCache{max: max, entries: make(map[string]head)}
}

// get returns the hash of stream at version, if known.
func (c *headCache) get(stream string, version int64, streamType string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.entries[stream]
	if !ok || h.version != version || h.streamType != streamType {
		return nil, false
	}
	return h.hash, true
}

// put records that stream's event at version has hash, unless a later version is known.
func (c *headCache) put(stream string, version int64, hash []byte, streamType string) {
	if version <= 0 || len(hash) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.entries[stream]; ok && h.version >= version {
		return
	}
	if len(c.entries) >= c.max {
		// Drop an arbitrary tenth (map order): cheaper than LRU bookkeeping on every append, and a
		// miss only means one append on the general path.
		n := c.max / 10
		for k := range c.entries {
			if n == 0 {
				break
			}
			delete(c.entries, k)
			n--
		}
	}
	c.entries[stream] = head{version: version, hash: bytes.Clone(hash), streamType: streamType}
}

func (c *headCache) forget(stream string) {
	c.mu.Lock()
	delete(c.entries, stream)
	c.mu.Unlock()
}
