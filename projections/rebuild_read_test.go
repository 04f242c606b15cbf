package projections_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// TestRebuildUpcastsOldEvents: the load phase reads the log itself (rebuild_read.go); an event
// stored under an older schema version reaches the projections upcast, as through the store, and
// the bulk-built tables equal the statement-built ones.
func TestRebuildUpcastsOldEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.world(3)
	hook := uuid.New()
	appended, err := f.store.Append(f.ctx, eventstore.StreamAppend{
		StreamID: domain.WorkspaceStream(w.ws), StreamType: domain.StreamTypeWorkspace, Expected: eventstore.Any(),
		Events: []eventstore.EventData{{ID: uuid.New(), Type: domain.EventWebhookRegistered, SchemaVersion: 1,
			Data: []byte(fmt.Sprintf(`{"workspace_id":%q,"webhook_id":%q,"url":"http://127.0.0.1:9/hook","secret":"s3cret","by":"%s","at":%q}`,
				w.ws, hook, owner.UserID, time.Now().UTC().Format(time.RFC3339Nano))),
			Metadata: eventstore.Metadata{Actor: string(owner.UserID), WorkspaceID: w.ws, ClientMutationID: "m\"1"}}},
	})
	require.NoError(t, err)
	// A rebuild reads only below the read horizon, which is the whole server's: while another
	// package's transaction holds it (make test runs them all at once), the rebuild would end
	// before reaching the event, and nothing would be refused.
	f.belowHorizon(appended.Head())

	// Without the upcaster the version-1 payload is refused: the load did meet it.
	_, err = projections.Rebuild(f.ctx, f.store, projections.All(), projections.RebuildOptions{})
	require.ErrorIs(t, err, domain.ErrSchemaVersion)

	up, err := eventstore.New(f.pool, eventstore.Options{Upcasters: commands.Upcasters()})
	require.NoError(t, err)
	res, err := projections.Rebuild(f.ctx, up, projections.All(), projections.RebuildOptions{KeepOld: true})
	require.NoError(t, err)
	statements, err := projections.Rebuild(f.ctx, up, projections.All(), projections.RebuildOptions{KeepOld: true, Statements: true})
	require.NoError(t, err)
	for i, r := range res {
		p, err := projections.ByName(r.Name)
		require.NoError(t, err)
		ds, err := projections.CompareVersions(f.ctx, f.pool, p[0], r.Version, statements[i].Version)
		require.NoError(t, err)
		for _, d := range ds {
			require.True(t, d.Equal(), "%s: %+v", r.Name, d)
		}
	}
}

// TestLoadReaderReadsWhatTheStoreReads: the load's reader decodes rows from their raw values;
// every event must come out as pgx's Scan and the store's own read make it (less the hashes,
// which the load does not read).
func TestLoadReaderReadsWhatTheStoreReads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.world(5)
	_, err := f.h.RegisterUser.Handle(f.ctx, commands.RegisterUser{Actor: member})
	require.NoError(t, err)
	var n int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM events`).Scan(&n))
	var want []eventstore.RecordedEvent
	// Below the read horizon once every transaction older than the last append has ended.
	require.Eventually(t, func() bool {
		want, err = f.store.ReadAll(f.ctx, eventstore.GlobalPosition{}, 1000)
		require.NoError(t, err)
		return len(want) == n
	}, 10*time.Second, 10*time.Millisecond)
	for i := range want {
		want[i].PrevHash, want[i].Hash = nil, nil
	}
	for _, scanned := range []bool{false, true} {
		// In pages of 7, as the load reads them.
		var got []eventstore.RecordedEvent
		after := eventstore.GlobalPosition{}
		for {
			evs, err := projections.ReadLoad(f.ctx, f.store, after, 7, scanned)
			require.NoError(t, err)
			got = append(got, evs...)
			if len(evs) < 7 {
				break
			}
			after = evs[len(evs)-1].GlobalPosition()
		}
		require.Equal(t, want, got, "scanned %v", scanned)
	}
}
