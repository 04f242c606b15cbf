package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestSnapshots checks, for every aggregate, that restoring from a snapshot
// taken part-way plus the later events equals loading the whole stream.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	due := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	history := board(
		WorkspaceRenamed{WorkspaceID: wsID, Name: "Acme Corp", At: t0},
		invited(1, "a@x.io", RoleMember),
		WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF", At: t0},
		WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://x.io", SecretID: id(900), EventTypes: []string{}, At: t0},
		numberReserved(2), legacyReserved(1), projectArchived(),
		TaskDueDateChanged{TaskID: taskID, ProjectID: projectID, DueDate: &due, At: t0},
		commentAdded(commentID, member, "hi @adam", "adam"),
		TaskCommentEdited{TaskID: taskID, ProjectID: projectID, CommentID: commentID, Body: "hello", Mentions: []UserID{}, NewMentions: []UserID{}, At: now},
		TaskAssigned{TaskID: taskID, ProjectID: projectID, Assignee: "max", At: t0},
	)
	user := []Event{
		UserRegistered{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia", At: t0},
		UserProfileUpdated{UserID: "mia", Email: "mia@new.io", DisplayName: "Mia", At: now},
	}
	s := streams(history)
	type aggregate interface {
		Snapshot() ([]byte, error)
		Version() int64
	}
	for _, c := range []struct {
		kind    string
		events  []Event
		load    func([]Event) (aggregate, error)
		restore func([]byte, []Event) (aggregate, error)
	}{
		{StreamTypeUser, user,
			func(es []Event) (aggregate, error) { return LoadUser(es) },
			func(b []byte, es []Event) (aggregate, error) { return RestoreUser(b, es) }},
		{StreamTypeWorkspace, s[StreamTypeWorkspace],
			func(es []Event) (aggregate, error) { return LoadWorkspace(es) },
			func(b []byte, es []Event) (aggregate, error) { return RestoreWorkspace(b, es) }},
		{StreamTypeProject, s[StreamTypeProject],
			func(es []Event) (aggregate, error) { return LoadProject(es) },
			func(b []byte, es []Event) (aggregate, error) { return RestoreProject(b, es) }},
		{StreamTypeTaskNumbers, s[StreamTypeTaskNumbers],
			func(es []Event) (aggregate, error) { return RestoreTaskNumbers(projectID, nil, es) },
			func(b []byte, es []Event) (aggregate, error) { return RestoreTaskNumbers(projectID, b, es) }},
		{StreamTypeTask, s[StreamTypeTask],
			func(es []Event) (aggregate, error) { return LoadTask(es) },
			func(b []byte, es []Event) (aggregate, error) { return RestoreTask(b, es) }},
	} {
		full, err := c.load(c.events)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		want, _ := full.Snapshot()
		for cut := 1; cut <= len(c.events); cut++ {
			head, err := c.load(c.events[:cut])
			if err != nil {
				t.Fatalf("%s: %v", c.kind, err)
			}
			snap, err := head.Snapshot()
			if err != nil {
				t.Fatalf("%s: %v", c.kind, err)
			}
			restored, err := c.restore(snap, c.events[cut:])
			if err != nil {
				t.Fatalf("%s from version %d: %v", c.kind, cut, err)
			}
			got, _ := restored.Snapshot()
			if restored.Version() != int64(len(c.events)) || !bytes.Equal(got, want) {
				t.Fatalf("%s from version %d differs:\n got %s\nwant %s", c.kind, cut, got, want)
			}
		}

		// A snapshot of another format is ignored by the caller, not misread.
		var env snapshotEnvelope
		_ = json.Unmarshal(want, &env)
		env.Format++
		stale, _ := json.Marshal(env)
		if _, err := c.restore(stale, nil); !errors.Is(err, ErrSnapshotIncompatible) {
			t.Errorf("%s: stale snapshot: %v", c.kind, err)
		}
		if _, err := c.restore([]byte(`{"kind":"nope","format":1,"state":{}}`), nil); err == nil || errors.Is(err, ErrSnapshotIncompatible) {
			t.Errorf("%s: foreign snapshot: %v", c.kind, err)
		}
		if _, err := c.restore([]byte(`not json`), nil); err == nil {
			t.Errorf("%s: garbage snapshot restored", c.kind)
		}
	}
}

// TestSnapshotRestoredAggregatesDecide checks that a restored aggregate makes
// the same decisions as a loaded one.
func TestSnapshotRestoredAggregatesDecide(t *testing.T) {
	t.Parallel()
	w, err := loadWorld(board())
	if err != nil {
		t.Fatal(err)
	}
	wsSnap, _ := w.workspace.Snapshot()
	pSnap, _ := w.project.Snapshot()
	tSnap, _ := w.task.Snapshot()
	ws, err1 := RestoreWorkspace(wsSnap, nil)
	p, err2 := RestoreProject(pSnap, nil)
	tk, err3 := RestoreTask(tSnap, nil)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	got, err := tk.ChangeStatus(ws, p, member, "in_progress", now)
	expect(t, got, err, []Event{TaskStatusChanged{TaskID: taskID, ProjectID: projectID, From: "todo", To: "in_progress", By: "mia", At: now}}, "")
	_, err = ws.InviteMember(viewer, invID, "x@y.io", RoleMember, now)
	mustCode(t, err, CodeForbidden)
}
