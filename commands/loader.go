package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// aggregate is what the loader needs of a domain aggregate.
type aggregate interface {
	Version() int64
	Snapshot() ([]byte, error)
}

var errSnapshotMismatch = errors.New("snapshot does not match the stream")

// load rebuilds the aggregate in stream from its latest snapshot (if any, in
// the current format) plus the events after it. A snapshot that cannot be
// used is ignored, and the stream is folded from its first event. Once the
// aggregate is SnapshotEvery events past its snapshot, a new one is saved,
// best effort: a failure costs a longer load next time, nothing else.
func load[A aggregate](ctx context.Context, rt *Runtime, stream, streamType string, restore func([]byte, []domain.Event) (A, error)) (A, error) {
	var zero A
	format, snapshots := domain.SnapshotFormat(streamType)
	var base int64
	if snapshots {
		snap, err := rt.store.LoadSnapshot(ctx, stream, format)
		switch {
		case err == nil:
			a, err := fold(ctx, rt, stream, snap.StreamVersion, snap.Data, restore)
			if err == nil {
				rt.maybeSnapshot(ctx, stream, format, snap.StreamVersion, a)
				return a, nil
			}
			if !errors.Is(err, domain.ErrSnapshotIncompatible) && !errors.Is(err, errSnapshotMismatch) {
				return zero, err
			}
			rt.log.WarnContext(ctx, "ignoring unusable snapshot", "stream", stream, "err", err)
			base = snap.StreamVersion
		case !errors.Is(err, eventstore.ErrNotFound):
			return zero, fmt.Errorf("load %s: %w", stream, err)
		}
	}
	a, err := fold(ctx, rt, stream, 0, nil, restore)
	if err != nil {
		return zero, err
	}
	if snapshots {
		rt.maybeSnapshot(ctx, stream, format, base, a)
	}
	return a, nil
}

// fold restores an aggregate from snapshot (taken at version after) and the
// events recorded after it.
func fold[A aggregate](ctx context.Context, rt *Runtime, stream string, after int64, snapshot []byte, restore func([]byte, []domain.Event) (A, error)) (A, error) {
	var zero A
	recorded, err := rt.readStream(ctx, stream, after+1)
	if err != nil {
		return zero, err
	}
	events, err := rt.codec.DecodeAll(recorded)
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", stream, err)
	}
	a, err := restore(snapshot, events)
	if err != nil {
		if domain.CodeOf(err) != "" { // NOT_FOUND: an empty stream
			return zero, err
		}
		return zero, fmt.Errorf("load %s: %w", stream, err)
	}
	want := after
	if n := len(recorded); n > 0 {
		want = recorded[n-1].StreamVersion
	}
	if a.Version() != want {
		return zero, fmt.Errorf("load %s: folded to version %d, stream at %d: %w", stream, a.Version(), want, errSnapshotMismatch)
	}
	return a, nil
}

func (rt *Runtime) maybeSnapshot(ctx context.Context, stream string, format int, last int64, a aggregate) {
	if a.Version()-last < rt.opts.SnapshotEvery {
		return
	}
	data, err := a.Snapshot()
	if err == nil {
		err = rt.store.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: stream, SchemaVersion: format, StreamVersion: a.Version(), Data: data})
	}
	if err != nil {
		rt.log.WarnContext(ctx, "saving snapshot failed", "stream", stream, "version", a.Version(), "err", err)
	}
}

// readStream reads a stream from version from to its end, page by page.
func (rt *Runtime) readStream(ctx context.Context, stream string, from int64) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for {
		page, err := rt.store.ReadStream(ctx, stream, from, eventstore.MaxBatch)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		out = append(out, page...)
		if len(page) < eventstore.MaxBatch {
			return out, nil
		}
		from = page[len(page)-1].StreamVersion + 1
	}
}

func (rt *Runtime) loadUser(ctx context.Context, id domain.UserID) (*domain.User, error) {
	return load(ctx, rt, domain.UserStream(id), domain.StreamTypeUser, domain.RestoreUser)
}

func (rt *Runtime) loadWorkspace(ctx context.Context, id uuid.UUID) (*domain.Workspace, error) {
	return load(ctx, rt, domain.WorkspaceStream(id), domain.StreamTypeWorkspace, domain.RestoreWorkspace)
}

func (rt *Runtime) loadProject(ctx context.Context, id uuid.UUID) (*domain.Project, error) {
	return load(ctx, rt, domain.ProjectStream(id), domain.StreamTypeProject, domain.RestoreProject)
}

func (rt *Runtime) loadTask(ctx context.Context, id uuid.UUID) (*domain.Task, error) {
	return load(ctx, rt, domain.TaskStream(id), domain.StreamTypeTask, domain.RestoreTask)
}

func (rt *Runtime) loadAssignments(ctx context.Context, workspaceID uuid.UUID, user domain.UserID) (*domain.Assignments, error) {
	return load(ctx, rt, domain.MemberStream(workspaceID, user), domain.StreamTypeMember,
		func(snap []byte, events []domain.Event) (*domain.Assignments, error) {
			return domain.RestoreAssignments(workspaceID, user, snap, events)
		})
}

func (rt *Runtime) loadTaskNumbers(ctx context.Context, projectID uuid.UUID) (*domain.TaskNumbers, error) {
	return load(ctx, rt, domain.TaskNumbersStream(projectID), domain.StreamTypeTaskNumbers,
		func(snap []byte, events []domain.Event) (*domain.TaskNumbers, error) {
			return domain.RestoreTaskNumbers(projectID, snap, events)
		})
}

// projectTaskIDs lists the tasks of a project, in number order, from its
// number reservations: those on the project stream (projects created before
// the task numbers stream existed), then those on its task numbers stream.
// It also returns the version of the task numbers stream it read, for the
// caller to assert, so that a task created since makes its append conflict.
func (rt *Runtime) projectTaskIDs(ctx context.Context, projectID uuid.UUID) ([]uuid.UUID, int64, error) {
	legacy, _, err := rt.reservedTaskIDs(ctx, domain.ProjectStream(projectID))
	if err != nil {
		return nil, 0, err
	}
	ids, numbersVersion, err := rt.reservedTaskIDs(ctx, domain.TaskNumbersStream(projectID))
	if err != nil {
		return nil, 0, err
	}
	return append(legacy, ids...), numbersVersion, nil
}

// reservedTaskIDs returns the tasks numbered by the reservations on stream,
// in stream order, and the stream's version (0 when it is empty).
func (rt *Runtime) reservedTaskIDs(ctx context.Context, stream string) ([]uuid.UUID, int64, error) {
	recorded, err := rt.readStream(ctx, stream, 1)
	if err != nil {
		return nil, 0, err
	}
	var ids []uuid.UUID
	var version int64
	for _, r := range recorded {
		version = r.StreamVersion
		if r.Type != domain.EventProjectTaskNumberReserved {
			continue
		}
		e, err := rt.codec.Decode(r)
		if err != nil {
			return nil, 0, err
		}
		ids = append(ids, e.(domain.ProjectTaskNumberReserved).TaskID)
	}
	return ids, version, nil
}

// taskCreated returns a task's creation event.
func (rt *Runtime) taskCreated(ctx context.Context, taskID uuid.UUID) (domain.TaskCreated, error) {
	recorded, err := rt.store.ReadStream(ctx, domain.TaskStream(taskID), 1, 1)
	if err != nil {
		return domain.TaskCreated{}, fmt.Errorf("read task %s: %w", taskID, err)
	}
	if len(recorded) == 0 {
		return domain.TaskCreated{}, fmt.Errorf("task %s has no events", taskID)
	}
	e, err := rt.codec.Decode(recorded[0])
	if err != nil {
		return domain.TaskCreated{}, err
	}
	created, ok := e.(domain.TaskCreated)
	if !ok {
		return domain.TaskCreated{}, fmt.Errorf("task %s starts with %s", taskID, e.EventType())
	}
	return created, nil
}

// internal turns a NOT_FOUND for a stream that must exist (the project of a
// task, say) into an internal error: it means corrupt data, not bad input.
func internal(what string, err error) error {
	if domain.CodeOf(err) == domain.CodeNotFound {
		return fmt.Errorf("%s is missing: %v", what, err)
	}
	return err
}
