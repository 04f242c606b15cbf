package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
)

func TestNotifierWakesReadersOnCommit(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := eventstore.NewNotifier(es.Pool(), nil)
	wake, unsubscribe := n.Subscribe()
	defer unsubscribe()
	stopped := make(chan struct{})
	go func() { _ = n.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	select { // the first wake-up comes when LISTEN is in place
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("notifier did not start listening")
	}
	for i := range 3 {
		_, err := es.Append(ctx, one(streamID("notify"), eventstore.Any(), events(1)...))
		require.NoError(t, err)
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d did not wake the reader", i)
		}
	}
}
