package feed

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
)

// The subscriptions' shared tail hands out the events after a position only when it holds that
// position, joins consecutive reads, and keeps the head of the log when a laggard reads.
func TestTail(t *testing.T) {
	t.Parallel()
	ev := func(tx uint64, pos int64) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{TransactionID: tx, Position: pos}
	}
	at := func(tx uint64, pos int64) eventstore.GlobalPosition {
		return eventstore.GlobalPosition{TransactionID: tx, Position: pos}
	}
	var tl tail
	require.Nil(t, tl.after(eventstore.GlobalPosition{}, 10))
	tl.add(at(10, 5), []eventstore.RecordedEvent{ev(11, 7), ev(12, 6)})
	require.Len(t, tl.after(at(10, 5), 10), 2)
	require.Equal(t, []eventstore.RecordedEvent{ev(12, 6)}, tl.after(at(11, 7), 10))
	require.Empty(t, tl.after(at(12, 6), 10)) // nothing known after the tail's end
	require.Nil(t, tl.after(at(11, 6), 10))   // not a position the tail holds
	require.Nil(t, tl.after(at(9, 1), 10))    // before the tail
	tl.add(at(12, 6), []eventstore.RecordedEvent{ev(13, 8)})
	require.Equal(t, []eventstore.RecordedEvent{ev(12, 6), ev(13, 8)}, tl.after(at(11, 7), 10))
	require.Equal(t, []eventstore.RecordedEvent{ev(12, 6)}, tl.after(at(11, 7), 1))
	tl.add(at(1, 1), []eventstore.RecordedEvent{ev(2, 2)}) // a laggard's read: older, not kept
	require.Len(t, tl.after(at(10, 5), 10), 3)
	tl.add(at(20, 1), []eventstore.RecordedEvent{ev(21, 2)}) // newer and not joined: replaces
	require.Nil(t, tl.after(at(10, 5), 10))
	require.Len(t, tl.after(at(20, 1), 10), 1)
}
