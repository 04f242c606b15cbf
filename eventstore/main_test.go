package eventstore_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
)

// groupCommitEnv set to "off" runs the package without group commit. TestMain runs it with group
// commit (the default) and then, in a child process, without.
const groupCommitEnv = "EVENTSTORE_GROUP_COMMIT"

func TestMain(m *testing.M) {
	code := pgtest.Run(m, "eventstore")
	// Not for benchmarks, nor when fuzzing: the fuzz engine's workers are this binary too, and a
	// worker that ran itself again would leave the coordinator waiting.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != "" || flag.Lookup("test.fuzzworker").Value.String() == "true"
	if code == 0 && os.Getenv(groupCommitEnv) == "" && flag.Lookup("test.bench").Value.String() == "" && !fuzzing {
		fmt.Fprintf(os.Stderr, "eventstore: again with %s=off\n", groupCommitEnv)
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), groupCommitEnv+"=off")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			code = 1
		}
	}
	os.Exit(code)
}

// options sets what the package's run asks of every store.
func options(opts eventstore.Options) eventstore.Options {
	opts.DisableGroupCommit = os.Getenv(groupCommitEnv) == "off"
	return opts
}

// setup returns a store on the package database. Tests isolate themselves with fresh stream ids;
// tests that read the global log use newStore on a database of their own.
func setup(t testing.TB) *eventstore.Store {
	t.Helper()
	s, err := eventstore.New(pgtest.Pool(t), options(eventstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t testing.TB, opts eventstore.Options) *eventstore.Store {
	t.Helper()
	s, err := eventstore.New(pgtest.Open(t, pgtest.NewDatabase(t)), options(opts))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func streamID(prefix string) string { return prefix + "-" + uuid.NewString() }

func event(typ string, n int) eventstore.EventData {
	data, _ := json.Marshal(map[string]any{"n": n, "text": fmt.Sprintf("event %d ✓", n)})
	return eventstore.EventData{
		ID:            uuid.New(),
		Type:          typ,
		SchemaVersion: 1,
		Data:          data,
		Metadata: eventstore.Metadata{
			Actor:         "user-1",
			CorrelationID: uuid.New(),
			CausationID:   uuid.New(),
			WorkspaceID:   uuid.New(),
			RequestID:     "req-1",
		},
	}
}

func events(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event("test.happened", i+1)
	}
	return out
}

func one(id string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.StreamAppend {
	return eventstore.StreamAppend{StreamID: id, StreamType: "test", Expected: exp, Events: evs}
}

// readAllEventually reads the global log from the start until it holds want events. ReadAll only
// returns events below the oldest transaction running anywhere in the cluster, and other test
// packages run transactions on the same server, so a fresh commit may take a moment to show.
func readAllEventually(t *testing.T, es *eventstore.Store, want int) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := es.ReadAll(context.Background(), eventstore.GlobalPosition{}, 0)
		require.NoError(t, err)
		if len(got) >= want || time.Now().After(deadline) {
			require.Len(t, got, want)
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}
