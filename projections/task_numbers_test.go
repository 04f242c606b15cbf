package projections_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/projections"
)

// A project's version in rm_projects is its project stream's, whichever
// stream its number reservations are on: the task numbers stream (current
// commands) or the project stream (projects created before it). Live and
// rebuilt tables agree, and the version is one a project command accepts.
func TestProjectVersionWithTaskNumbers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(3) // reservations on the task numbers stream

	// An older project: OLD-1 reserved on its project stream.
	old, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: w.ws, Name: "Old", Key: "OLD"})
	require.NoError(t, err)
	reg := domain.NewRegistry()
	meta := eventstore.Metadata{Actor: string(member.UserID), CorrelationID: uuid.New(), CausationID: uuid.New(), WorkspaceID: w.ws}
	encode := func(e domain.Event) []eventstore.EventData {
		typ, v, data, err := reg.Encode(e)
		require.NoError(t, err)
		return []eventstore.EventData{{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, Metadata: meta}}
	}
	task, now := uuid.New(), time.Now().UTC()
	res, err := f.store.Append(f.ctx,
		eventstore.StreamAppend{StreamID: domain.ProjectStream(old.ID), StreamType: domain.StreamTypeProject, Expected: eventstore.Exact(1),
			Events: encode(domain.ProjectTaskNumberReserved{ProjectID: old.ID, TaskID: task, Number: 1, By: member.UserID, At: now})},
		eventstore.StreamAppend{StreamID: domain.TaskStream(task), StreamType: domain.StreamTypeTask, Expected: eventstore.NoStream(),
			Events: encode(domain.TaskCreated{TaskID: task, ProjectID: old.ID, WorkspaceID: w.ws, Number: 1, Key: "OLD-1", Title: "Old",
				Priority: domain.PriorityNone, Labels: []string{}, Status: "todo", Rank: "000001", By: member.UserID, At: now})})
	require.NoError(t, err)
	f.applied(res.Head())
	added, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: old.ID, Title: "New"})
	require.NoError(t, err)
	require.Equal(t, "OLD-2", added.Key)
	f.applied(added.Position)

	check := func(what string) {
		t.Helper()
		pages, err := f.q.ProjectPages(f.ctx, []uuid.UUID{w.ws}, projections.Window{})
		require.NoError(t, err)
		versions, counts := map[uuid.UUID]int64{}, map[uuid.UUID]map[string]int{}
		for _, p := range pages[w.ws].Items {
			versions[p.ID], counts[p.ID] = p.Version, p.TaskCounts
		}
		require.Equal(t, map[uuid.UUID]int64{w.project: 1, old.ID: 2}, versions, what)
		require.Equal(t, map[string]int{"todo": 3}, counts[w.project], what)
		require.Equal(t, map[string]int{"todo": 2}, counts[old.ID], what)
	}
	check("live")
	_, err = projections.Rebuild(f.ctx, f.store, projections.All(), projections.RebuildOptions{})
	require.NoError(t, err)
	check("rebuilt")

	// The version is the one a project command expects.
	two, one := int64(2), int64(1)
	_, err = f.h.RenameProject.Handle(f.ctx, commands.RenameProject{Actor: owner, ProjectID: old.ID, Name: "Older", ExpectedVersion: &two})
	require.NoError(t, err)
	_, err = f.h.RenameProject.Handle(f.ctx, commands.RenameProject{Actor: owner, ProjectID: w.project, Name: "Renamed", ExpectedVersion: &one})
	require.NoError(t, err)
}
