package projections

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
)

// pgFormat must render what PostgreSQL's format() renders for the directives lines use, and
// refuse any other directive rather than render it differently.
func TestPGFormat(t *testing.T) {
	t.Parallel()
	got, err := pgFormat(`%1$s moved %2$s from %4$s to %5$s (100%%)`, "Olga", "TF-1 “x”", "", "todo", "done")
	require.NoError(t, err)
	require.Equal(t, "Olga moved TF-1 “x” from todo to done (100%)", got)
	got, err = pgFormat(`%3$s joined as %5$s`, "a", "b", "Mia", "", "member")
	require.NoError(t, err)
	require.Equal(t, "Mia joined as member", got)
	for _, bad := range []string{`%s`, `%1$d`, `%6$s`, `%0$s`, `50%`, `%1$`} {
		_, err := pgFormat(bad, "a", "b", "c", "d", "e")
		require.Error(t, err, bad)
	}
}

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
