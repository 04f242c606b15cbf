package domain

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Fixtures shared by the scenarios. They are never mutated.
var (
	t0  = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	now = time.Date(2025, 3, 2, 10, 30, 0, 0, time.UTC)

	wsID      = uuid.MustParse("00000000-0000-4000-8000-000000000001")
	projectID = uuid.MustParse("00000000-0000-4000-8000-000000000002")
	taskID    = uuid.MustParse("00000000-0000-4000-8000-000000000003")
	otherID   = uuid.MustParse("00000000-0000-4000-8000-0000000000ff")
	invID     = uuid.MustParse("00000000-0000-4000-8000-000000000010")
	hookID    = uuid.MustParse("00000000-0000-4000-8000-000000000020")
	commentID = uuid.MustParse("00000000-0000-4000-8000-000000000030")

	owner    = Actor{UserID: "olga", Email: "olga@example.com", EmailVerified: true, DisplayName: "Olga"}
	owner2   = Actor{UserID: "otto", Email: "otto@example.com", EmailVerified: true, DisplayName: "Otto"}
	admin    = Actor{UserID: "adam", Email: "adam@example.com", EmailVerified: true, DisplayName: "Adam"}
	member   = Actor{UserID: "mia", Email: "mia@example.com", EmailVerified: true, DisplayName: "Mia"}
	member2  = Actor{UserID: "max", Email: "Max.Power@example.com", EmailVerified: true, DisplayName: "Max"}
	viewer   = Actor{UserID: "vic", Email: "vic@example.com", EmailVerified: true, DisplayName: "Vic"}
	stranger = Actor{UserID: "sam", Email: "sam@example.com", EmailVerified: true, DisplayName: "Sam"}
)

// id returns a distinct, readable uuid for test number n.
func id(n int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("00000000-0000-4000-9000-%012d", n))
}

func ptr[T any](v T) *T { return &v }

// evs flattens Events and []Events into one history.
func evs(parts ...any) []Event {
	var out []Event
	for _, p := range parts {
		switch p := p.(type) {
		case Event:
			out = append(out, p)
		case []Event:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("evs: %T", p))
		}
	}
	return out
}

func joined(a Actor, r Role) WorkspaceMemberJoined {
	return WorkspaceMemberJoined{WorkspaceID: wsID, UserID: a.UserID, Email: a.Email, DisplayName: a.DisplayName, Role: r, By: a.UserID, At: t0}
}

// wsCreated is a free workspace with its owner only.
func wsCreated() []Event {
	return []Event{
		WorkspaceCreated{WorkspaceID: wsID, Name: "Acme", Plan: PlanFree, By: owner.UserID, At: t0},
		joined(owner, RoleOwner),
	}
}

// team is a workspace with one member of each role, and a second member.
func team() []Event {
	return evs(wsCreated(), joined(admin, RoleAdmin), joined(member, RoleMember),
		joined(member2, RoleMember), joined(viewer, RoleViewer))
}

func invited(n int, email string, r Role) WorkspaceMemberInvited {
	return WorkspaceMemberInvited{WorkspaceID: wsID, InvitationID: id(n), Email: email, Role: r, By: owner.UserID, At: t0}
}

func projectCreated() ProjectCreated {
	return ProjectCreated{ProjectID: projectID, WorkspaceID: wsID, Key: "TF", Name: "Taskforge", Workflow: DefaultWorkflow(), By: owner.UserID, At: t0}
}

func projectArchived() ProjectArchived {
	return ProjectArchived{ProjectID: projectID, By: admin.UserID, At: t0}
}

// numberReserved is a reservation on the task numbers stream.
func numberReserved(n int64) ProjectTaskNumberReserved {
	return ProjectTaskNumberReserved{ProjectID: projectID, TaskID: id(int(1000 + n)), Number: n, By: member.UserID, At: t0}
}

// onProjectStream is a reservation recorded on the project stream, as
// projects created before TaskNumbers have them. streams unwraps it.
type onProjectStream struct{ ProjectTaskNumberReserved }

func legacyReserved(n int64) onProjectStream { return onProjectStream{numberReserved(n)} }

func taskCreated() TaskCreated {
	return TaskCreated{
		TaskID: taskID, ProjectID: projectID, WorkspaceID: wsID, Number: 1, Key: "TF-1",
		Title: "Write the domain", Description: "Pure Go.", Priority: PriorityMedium,
		Labels: []string{"backend"}, Status: "todo", Rank: rankForNumber(1), By: member.UserID, At: t0,
	}
}

// board is a team workspace, the TF project and task TF-1.
func board(extra ...any) []Event {
	return evs(append([]any{team(), projectCreated(), numberReserved(1), taskCreated()}, extra...)...)
}

func statusChanged(from, to string) TaskStatusChanged {
	return TaskStatusChanged{TaskID: taskID, ProjectID: projectID, From: from, To: to, By: member.UserID, At: t0}
}

func commentAdded(cid uuid.UUID, author Actor, body string, mentions ...UserID) TaskCommentAdded {
	if mentions == nil {
		mentions = []UserID{}
	}
	return TaskCommentAdded{TaskID: taskID, ProjectID: projectID, CommentID: cid, Body: body, Mentions: mentions, By: author.UserID, At: t0}
}

// world holds the aggregates loaded from a scenario's history; an aggregate
// is nil when the history has none of its events.
type world struct {
	user      *User
	workspace *Workspace
	project   *Project
	numbers   *TaskNumbers // loaded whenever project is
	task      *Task
}

// streams splits a history by the stream each event belongs to: by the
// event type's prefix, except webhook events (workspace stream) and number
// reservations (task numbers stream, or project stream when wrapped in
// onProjectStream).
func streams(history []Event) map[string][]Event {
	out := map[string][]Event{}
	for _, e := range history {
		kind, _, _ := strings.Cut(e.EventType(), ".")
		switch r := e.(type) {
		case onProjectStream:
			e = r.ProjectTaskNumberReserved
		case ProjectTaskNumberReserved:
			kind = StreamTypeTaskNumbers
		}
		if kind == "webhook" {
			kind = StreamTypeWorkspace
		}
		out[kind] = append(out[kind], e)
	}
	return out
}

func loadWorld(history []Event) (world, error) {
	var w world
	var err error
	s := streams(history)
	if es := s[StreamTypeUser]; es != nil {
		if w.user, err = LoadUser(es); err != nil {
			return w, err
		}
	}
	if es := s[StreamTypeWorkspace]; es != nil {
		if w.workspace, err = LoadWorkspace(es); err != nil {
			return w, err
		}
	}
	if es := s[StreamTypeProject]; es != nil {
		if w.project, err = LoadProject(es); err != nil {
			return w, err
		}
		if w.numbers, err = RestoreTaskNumbers(w.project.ID(), nil, s[StreamTypeTaskNumbers]); err != nil {
			return w, err
		}
	}
	if es := s[StreamTypeTask]; es != nil {
		if w.task, err = LoadTask(es); err != nil {
			return w, err
		}
	}
	return w, nil
}

func (w world) snapshots(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range []interface{ Snapshot() ([]byte, error) }{w.user, w.workspace, w.project, w.numbers, w.task} {
		if reflect.ValueOf(s).IsNil() {
			out = append(out, nil)
			continue
		}
		b, err := s.Snapshot()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// scenario is one given/when/then case: given a history, when a behaviour
// method runs on the aggregates folded from it, then it returns exactly the
// wanted events, or an error with the wanted code (err == "" with then == nil
// means "no events, no error").
type scenario struct {
	name  string
	given []Event
	when  func(w world) ([]Event, error)
	then  []Event
	err   Code
}

func run(t *testing.T, cases []scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, err := loadWorld(c.given)
			if err != nil {
				t.Fatalf("given: %v", err)
			}
			before := w.snapshots(t)
			got, err := c.when(w)
			if !reflect.DeepEqual(before, w.snapshots(t)) {
				t.Fatal("the behaviour method mutated an aggregate")
			}
			expect(t, got, err, c.then, c.err)
			if err == nil && len(got) > 0 {
				// What was decided must also load.
				if _, err := loadWorld(evs(c.given, got)); err != nil {
					t.Fatalf("loading the new events: %v", err)
				}
			}
		})
	}
}

// expect checks a decision and that every returned event is registered and
// survives an Encode/Decode round trip.
func expect(t *testing.T, got []Event, err error, want []Event, code Code) {
	t.Helper()
	if code != "" {
		if CodeOf(err) != code {
			t.Fatalf("want error %s, got %v (events %+v)", code, err, got)
		}
		if got != nil {
			t.Fatalf("events returned with an error: %+v", got)
		}
		var de *Error
		if errors.As(err, &de) && de.Message == "" {
			t.Fatal("domain error without a message")
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events differ\n got: %s\nwant: %s", dump(got), dump(want))
	}
	reg := NewRegistry()
	for _, e := range got {
		roundTrip(t, reg, e)
	}
}

func roundTrip(t *testing.T, reg *Registry, e Event) {
	t.Helper()
	typ, version, data, err := reg.Encode(e)
	if err != nil {
		t.Fatalf("encode %T: %v", e, err)
	}
	back, err := reg.Decode(typ, version, data)
	if err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("%s does not round-trip\n got: %#v\nwant: %#v", typ, back, e)
	}
	_, _, again, err := reg.Encode(back)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("%s: re-encoding differs: %s vs %s (%v)", typ, again, data, err)
	}
}

func dump(es []Event) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %T%+v", e, e)
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return b.String()
}

// mustCode fails unless err carries code.
func mustCode(t *testing.T, err error, code Code) {
	t.Helper()
	if CodeOf(err) != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}
