package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/database"
)

func TestEventsAreImmutable(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("immutable")
	_, err := es.Append(ctx, one(id, eventstore.NoStream(), events(2)...))
	require.NoError(t, err)
	for _, sql := range []string{
		`UPDATE events SET data = '{"evil":true}' WHERE stream_id = $1`,
		`DELETE FROM events WHERE stream_id = $1`,
		`TRUNCATE events`,
	} {
		var args []any
		if sql != `TRUNCATE events` {
			args = append(args, id)
		}
		_, err := es.Pool().Exec(ctx, sql, args...)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, sql)
		require.Equal(t, "TF403", pgErr.Code, sql)
	}
	got, err := es.ReadStream(ctx, id, 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// tamper edits events the way a superuser can: with triggers off for the session.
func tamper(t *testing.T, es *eventstore.Store, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := database.WithTx(ctx, es.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	require.NoError(t, err)
}

func TestHashChainDetectsTampering(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx := context.Background()
	edited, rechained, deleted, intact := streamID("edited"), streamID("rechained"), streamID("deleted"), streamID("intact")
	for _, id := range []string{edited, rechained, deleted, intact} {
		_, err := es.Append(ctx, one(id, eventstore.NoStream(), events(3)...))
		require.NoError(t, err)
		_, err = es.Append(ctx, one(id, eventstore.Exact(3), events(2)...))
		require.NoError(t, err)
	}
	// Unicode, nested JSON and key order: Go must recompute exactly what SQL hashed.
	_, err := es.Append(ctx, one(intact, eventstore.Exact(5), eventstore.EventData{
		ID: event("x", 0).ID, Type: "test.unicode", SchemaVersion: 2,
		Data: json.RawMessage(`{"z":"héllo \"wörld\" \\ 🚀","a":[1,2.50,{"y":null,"b":true}],"m":1e3}`),
	}))
	require.NoError(t, err)

	rep, err := es.VerifyAll(ctx)
	require.NoError(t, err)
	require.Empty(t, rep.Breaks)
	require.EqualValues(t, 4, rep.Streams)
	require.EqualValues(t, 21, rep.Events)
	cleanDigest := rep.Digest

	// 1. Payload edited in place: the edited event's own hash no longer matches.
	tamper(t, es, `UPDATE events SET data = '{"n": 99}' WHERE stream_id = $1 AND stream_version = 2`, edited)
	// 2. Payload edited and its hash recomputed: the next event's prev_hash gives it away.
	tamper(t, es, `UPDATE events SET data = '{"n": 99}',
		hash = taskforge_event_hash(prev_hash, stream_id, stream_version, event_id, event_type, schema_version,
		                            recorded_at, '{"n": 99}'::json, metadata)
		WHERE stream_id = $1 AND stream_version = 3`, rechained)
	// 3. An event deleted: a hole in the versions.
	tamper(t, es, `DELETE FROM events WHERE stream_id = $1 AND stream_version = 4`, deleted)

	for id, want := range map[string]int64{edited: 2, rechained: 4, deleted: 5, intact: 0} {
		r, err := es.Verify(ctx, id)
		require.NoError(t, err)
		if want == 0 {
			require.Nil(t, r.Break, id)
			continue
		}
		require.NotNil(t, r.Break, id)
		require.Equal(t, want, r.Break.Version, "%s: %s", id, r.Break)
	}
	rep, err = es.VerifyAll(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Breaks, 3)
	require.NotEqual(t, cleanDigest, rep.Digest)

	// 4. The last event deleted: the shorter chain is internally consistent, which only an
	// externally kept digest reveals.
	tamper(t, es, `DELETE FROM events WHERE stream_id = $1 AND stream_version = 6`, intact)
	r, err := es.Verify(ctx, intact)
	require.NoError(t, err)
	require.Nil(t, r.Break)
	rep2, err := es.VerifyAll(ctx)
	require.NoError(t, err)
	require.NotEqual(t, rep.Digest, rep2.Digest, "the digest changes whenever any stream's history does")
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	es := setup(t)
	ctx := context.Background()
	id := streamID("snap")
	_, err := es.LoadSnapshot(ctx, id, 1)
	require.ErrorIs(t, err, eventstore.ErrNotFound)

	save := func(schema int, version int64, data string) {
		t.Helper()
		require.NoError(t, es.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: id, SchemaVersion: schema, StreamVersion: version, Data: json.RawMessage(data)}))
	}
	save(1, 10, `{"v":10}`)
	save(1, 5, `{"v":5}`) // older: ignored
	s, err := es.LoadSnapshot(ctx, id, 1)
	require.NoError(t, err)
	require.EqualValues(t, 10, s.StreamVersion)
	require.JSONEq(t, `{"v":10}`, string(s.Data))

	save(2, 8, `{"v":8,"shape":2}`) // new state shape replaces the stale one
	_, err = es.LoadSnapshot(ctx, id, 1)
	require.ErrorIs(t, err, eventstore.ErrNotFound, "a stale snapshot schema is ignored")
	s, err = es.LoadSnapshot(ctx, id, 2)
	require.NoError(t, err)
	require.EqualValues(t, 8, s.StreamVersion)

	err = es.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: id, SchemaVersion: 1, StreamVersion: 0, Data: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
}

func TestUpcastersConvertOnReadOnly(t *testing.T) {
	t.Parallel()
	up := eventstore.NewUpcasters()
	// v1 had "name"; v2 split it; v3 added a default priority.
	up.Register("task.created", 1, func(d json.RawMessage) (json.RawMessage, error) {
		var v1 struct{ Name string }
		if err := json.Unmarshal(d, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"title": v1.Name})
	})
	up.Register("task.created", 2, func(d json.RawMessage) (json.RawMessage, error) {
		var v2 map[string]any
		if err := json.Unmarshal(d, &v2); err != nil {
			return nil, err
		}
		v2["priority"] = "none"
		return json.Marshal(v2)
	})
	require.Panics(t, func() { up.Register("task.created", 1, nil) })
	es := newStore(t, eventstore.Options{Upcasters: up})
	ctx := context.Background()
	id := streamID("up")
	old := event("task.created", 0)
	old.Data = json.RawMessage(`{"name":"write tests"}`)
	current := event("task.created", 0)
	current.SchemaVersion = 3
	current.Data = json.RawMessage(`{"title":"new","priority":"high"}`)
	_, err := es.Append(ctx, one(id, eventstore.NoStream(), old, current))
	require.NoError(t, err)

	got, err := es.ReadStream(ctx, id, 1, 0)
	require.NoError(t, err)
	require.Equal(t, 3, got[0].SchemaVersion)
	require.JSONEq(t, `{"title":"write tests","priority":"none"}`, string(got[0].Data))
	require.JSONEq(t, `{"title":"new","priority":"high"}`, string(got[1].Data))
	all := readAllEventually(t, es, 2)
	require.JSONEq(t, string(got[0].Data), string(all[0].Data))

	var stored string
	var sv int
	require.NoError(t, es.Pool().QueryRow(ctx, `SELECT data::text, schema_version FROM events WHERE event_id = $1`, old.ID).Scan(&stored, &sv))
	require.JSONEq(t, `{"name":"write tests"}`, stored, "the stored form is never rewritten")
	require.Equal(t, 1, sv)
	r, err := es.Verify(ctx, id)
	require.NoError(t, err)
	require.Nil(t, r.Break)
}

func TestExportVerifiesOffline(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx := context.Background()
	a, b := streamID("exp-a"), streamID("exp-b")
	pretty := event("test.pretty", 1)
	pretty.Data = json.RawMessage("{\n  \"html\": \"<b>&</b>\",\n  \"n\": [1, 2.50]\n}")
	_, err := es.Append(ctx, one(a, eventstore.NoStream(), pretty, event("test.other", 2)))
	require.NoError(t, err)
	_, err = es.Append(ctx, one(b, eventstore.NoStream(), events(3)...))
	require.NoError(t, err)
	readAllEventually(t, es, 5)

	var buf bytes.Buffer
	n, err := es.Export(ctx, &buf, eventstore.ExportFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	require.Equal(t, 5, strings.Count(buf.String(), "\n"), "one event per line")
	rep, err := eventstore.VerifyExport(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Empty(t, rep.Breaks)
	require.EqualValues(t, 2, rep.Streams)

	// Filters.
	buf.Reset()
	n, err = es.Export(ctx, &buf, eventstore.ExportFilter{StreamID: a, Types: []string{"test.other"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	buf.Reset()
	n, err = es.Export(ctx, &buf, eventstore.ExportFilter{Since: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Zero(t, n)

	// An edited line breaks the chain.
	buf.Reset()
	_, err = es.Export(ctx, &buf, eventstore.ExportFilter{})
	require.NoError(t, err)
	edited := strings.Replace(buf.String(), `<b>&</b>`, `<i>&</i>`, 1)
	rep, err = eventstore.VerifyExport(strings.NewReader(edited))
	require.NoError(t, err)
	require.Len(t, rep.Breaks, 1)
	require.Equal(t, a, rep.Breaks[0].StreamID)
	require.EqualValues(t, 1, rep.Breaks[0].Version)
}

// After a dump is restored into a new cluster, stored transaction ids can be ahead of the server's.
func TestCheckTransactionIDsRefusesALogAheadOfTheServer(t *testing.T) {
	t.Parallel()
	es := newStore(t, eventstore.Options{})
	ctx := context.Background()
	require.NoError(t, es.CheckTransactionIDs(ctx), "an empty log is fine")
	_, err := es.Append(ctx, one(streamID("xid"), eventstore.NoStream(), events(1)...))
	require.NoError(t, err)
	require.NoError(t, es.CheckTransactionIDs(ctx))

	// What a restored log looks like: a transaction id from the old cluster's future.
	_, err = es.Pool().Exec(ctx, `INSERT INTO events (transaction_id, stream_id, stream_type, stream_version,
		event_id, event_type, schema_version, data, metadata, recorded_at, prev_hash, hash)
		VALUES ('90000000000'::xid8, 'restored', 'test', 1, gen_random_uuid(), 'test.old', 1, '{}', '{}', now(), '', '')`)
	require.NoError(t, err)
	err = es.CheckTransactionIDs(ctx)
	require.ErrorIs(t, err, eventstore.ErrTransactionIDsBehind)
	require.Contains(t, err.Error(), "pg_resetwal -e 20 -x")
}

// An export through a redacting store hides the payloads the hook rewrites (secrets) and marks
// those lines; the offline verifier still checks their links and every other line's content, and
// says how many it could not check.
func TestExportRedacts(t *testing.T) {
	t.Parallel()
	redact := func(eventType string, data []byte) ([]byte, bool, error) {
		if eventType != "test.secretive" {
			return data, false, nil
		}
		return []byte(`{"secret":"[redacted]"}`), true, nil
	}
	es := newStore(t, eventstore.Options{Redact: redact})
	ctx := context.Background()
	a := streamID("exp-redact")
	secretive := event("test.secretive", 1)
	secretive.Data = json.RawMessage(`{"secret":"hunter2-hunter2"}`)
	_, err := es.Append(ctx, one(a, eventstore.NoStream(), event("test.first", 1), secretive, event("test.last", 3)))
	require.NoError(t, err)
	readAllEventually(t, es, 3)

	var buf bytes.Buffer
	_, err = es.Export(ctx, &buf, eventstore.ExportFilter{StreamID: a})
	require.NoError(t, err)
	require.NotContains(t, buf.String(), "hunter2")
	require.Equal(t, 1, strings.Count(buf.String(), `"redacted":true`))
	rep, err := eventstore.VerifyExport(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Empty(t, rep.Breaks)
	require.EqualValues(t, 1, rep.Redacted)
	require.EqualValues(t, 3, rep.Events)

	// Other lines are still checked: editing one breaks the chain.
	edited := strings.Replace(buf.String(), `"test.last"`, `"test.lost"`, 1)
	rep, err = eventstore.VerifyExport(strings.NewReader(edited))
	require.NoError(t, err)
	require.Len(t, rep.Breaks, 1)
}
