package loaders

import (
	"context"
	"sync"

	"github.com/vikstrous/dataloadgen"
)

// Loader is a dataloader whose LoadAll is one fetch. dataloadgen's LoadAll adds its keys one at a
// time to a batch that fires Wait after its first key: a goroutine descheduled for longer than
// Wait in the middle of that loop (a loaded machine) splits one list's keys over two statements.
// A list resolver that primes its children's keys must cost one statement whatever the
// scheduling (TestStatementBudget), so LoadAll fetches the keys the request has not asked for yet
// itself, at once, and primes the dataloader with them; Load still batches concurrent resolvers
// within Wait, and waits for a LoadAll already fetching its key instead of fetching it again.
//
// The dataloader is not embedded: its other ways in (LoadThunk, LoadAllThunk, Clear) would pass
// keys by asked without recording them.
type Loader[K comparable, V any] struct {
	dl    *dataloadgen.Loader[K, V]
	fetch func(context.Context, []K) ([]V, []error)

	mu       sync.Mutex
	asked    map[K]bool          // keys asked of the dataloader or fetched by LoadAll
	fetching map[K]chan struct{} // keys a LoadAll is fetching, closed when primed
}

func newLoader[K comparable, V any](fetch func(context.Context, []K) ([]V, []error), opts ...dataloadgen.Option) *Loader[K, V] {
	return &Loader[K, V]{
		dl:       dataloadgen.NewLoader(fetch, opts...),
		fetch:    fetch,
		asked:    map[K]bool{},
		fetching: map[K]chan struct{}{},
	}
}

// Load returns key's value: from a LoadAll that fetched or is fetching it, or from a batch.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	l.mu.Lock()
	l.asked[key] = true
	wait := l.fetching[key]
	l.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	return l.dl.Load(ctx, key)
}

// LoadAll returns the values of keys, in their order, fetching those not asked for before in one
// statement.
func (l *Loader[K, V]) LoadAll(ctx context.Context, keys []K) ([]V, error) {
	var missing []K
	done := make(chan struct{})
	l.mu.Lock()
	for _, k := range keys {
		if !l.asked[k] {
			l.asked[k] = true
			l.fetching[k] = done
			missing = append(missing, k)
		}
	}
	l.mu.Unlock()
	if len(missing) > 0 {
		values, errs := l.fetch(ctx, missing)
		if len(errs) == 0 && len(values) == len(missing) {
			for i, k := range missing {
				l.dl.Prime(k, values[i])
			}
		} // else the dataloader fetches them again below and returns the error
		l.mu.Lock()
		for _, k := range missing {
			delete(l.fetching, k)
		}
		l.mu.Unlock()
		close(done)
	}
	return l.dl.LoadAll(ctx, keys)
}

// Prime puts key's value in the request's cache unless it is there already.
func (l *Loader[K, V]) Prime(key K, value V) bool {
	l.mu.Lock()
	l.asked[key] = true
	l.mu.Unlock()
	return l.dl.Prime(key, value)
}

// ClearAll forgets every key.
func (l *Loader[K, V]) ClearAll() {
	l.mu.Lock()
	l.asked = map[K]bool{}
	l.mu.Unlock()
	l.dl.ClearAll()
}

// mapped adapts a fetch returning a map to a loader's fetch; a key absent from the map loads as
// the zero value (a count of nothing).
func mapped[K comparable, V any](fetch func(context.Context, []K) (map[K]V, error)) func(context.Context, []K) ([]V, []error) {
	return func(ctx context.Context, keys []K) ([]V, []error) {
		m, err := fetch(ctx, keys)
		if err != nil {
			return nil, []error{err}
		}
		out := make([]V, len(keys))
		for i, k := range keys {
			out[i] = m[k]
		}
		return out, nil
	}
}
