package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	if PlanFree.MemberLimit() != 10 || PlanPro.MemberLimit() != 1000 || Plan("gold").MemberLimit() != 0 {
		t.Fatal("wrong member limits")
	}
	if p, err := ParsePlan(" Pro"); err != nil || p != PlanPro {
		t.Fatalf("ParsePlan: %q %v", p, err)
	}
	_, err := ParsePlan("enterprise")
	mustCode(t, err, CodeInvalidInput)
}

func TestCreateWorkspace(t *testing.T) {
	t.Parallel()
	create := func(a Actor, id uuid.UUID, name string, plan Plan) func(world) ([]Event, error) {
		return func(world) ([]Event, error) { return CreateWorkspace(a, id, name, plan, now) }
	}
	run(t, []scenario{
		{
			name: "creator becomes owner",
			when: create(owner, wsID, "  Acme  ", PlanFree),
			then: []Event{
				WorkspaceCreated{WorkspaceID: wsID, Name: "Acme", Plan: PlanFree, By: "olga", At: now},
				WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "olga", Email: "olga@example.com", DisplayName: "Olga", Role: RoleOwner, By: "olga", At: now},
			},
		},
		{
			name: "a 100-character name is fine",
			when: create(Actor{UserID: "u"}, wsID, strings.Repeat("é", 100), PlanPro),
			then: []Event{
				WorkspaceCreated{WorkspaceID: wsID, Name: strings.Repeat("é", 100), Plan: PlanPro, By: "u", At: now},
				WorkspaceMemberJoined{WorkspaceID: wsID, UserID: "u", Role: RoleOwner, By: "u", At: now},
			},
		},
		{name: "empty name", when: create(owner, wsID, "   ", PlanFree), err: CodeInvalidInput},
		{name: "name too long", when: create(owner, wsID, strings.Repeat("a", 101), PlanFree), err: CodeInvalidInput},
		{name: "name with a line break", when: create(owner, wsID, "Ac\nme", PlanFree), err: CodeInvalidInput},
		{name: "unknown plan", when: create(owner, wsID, "Acme", "gold"), err: CodeInvalidInput},
		{name: "nil id", when: create(owner, uuid.Nil, "Acme", PlanFree), err: CodeInvalidInput},
		{name: "anonymous actor", when: create(Actor{}, wsID, "Acme", PlanFree), err: CodeInvalidInput},
		{name: "invalid actor email", when: create(Actor{UserID: "u", Email: "nope", EmailVerified: true}, wsID, "Acme", PlanFree), err: CodeInvalidInput},
	})
}

func TestWorkspaceRename(t *testing.T) {
	t.Parallel()
	rename := func(a Actor, name string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.Rename(a, name, now) }
	}
	renamed := func(by Actor) []Event {
		return []Event{WorkspaceRenamed{WorkspaceID: wsID, Name: "Acme Corp", By: by.UserID, At: now}}
	}
	run(t, []scenario{
		{name: "owner", given: team(), when: rename(owner, "Acme Corp"), then: renamed(owner)},
		{name: "admin", given: team(), when: rename(admin, " Acme Corp "), then: renamed(admin)},
		{name: "member is forbidden", given: team(), when: rename(member, "Acme Corp"), err: CodeForbidden},
		{name: "viewer is forbidden", given: team(), when: rename(viewer, "Acme Corp"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: rename(stranger, "Acme Corp"), err: CodeForbidden},
		{name: "same name changes nothing", given: team(), when: rename(owner, "Acme")},
		{name: "empty name", given: team(), when: rename(owner, ""), err: CodeInvalidInput},
	})
}

func TestReserveProjectKey(t *testing.T) {
	t.Parallel()
	reserve := func(a Actor, pid uuid.UUID, key string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.workspace.ReserveProjectKey(a, pid, key, now) }
	}
	taken := evs(team(), WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: otherID, Key: "TF", By: "olga", At: t0})
	run(t, []scenario{
		{name: "member", given: team(), when: reserve(member, projectID, " TF2 "), then: []Event{WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF2", By: "mia", At: now}}},
		{name: "ten characters", given: team(), when: reserve(member, projectID, "ABCDEFGHIJ"), then: []Event{WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "ABCDEFGHIJ", By: "mia", At: now}}},
		{name: "key taken", given: taken, when: reserve(member, projectID, "TF"), err: CodeConflict},
		{name: "project already has a key", given: taken, when: reserve(member, otherID, "OPS"), err: CodeConflict},
		{name: "viewer is forbidden", given: team(), when: reserve(viewer, projectID, "TF"), err: CodeForbidden},
		{name: "non-member is forbidden", given: team(), when: reserve(stranger, projectID, "TF"), err: CodeForbidden},
		{name: "lower case", given: team(), when: reserve(member, projectID, "tf"), err: CodeInvalidInput},
		{name: "one character", given: team(), when: reserve(member, projectID, "T"), err: CodeInvalidInput},
		{name: "eleven characters", given: team(), when: reserve(member, projectID, "ABCDEFGHIJK"), err: CodeInvalidInput},
		{name: "starts with a digit", given: team(), when: reserve(member, projectID, "1TF"), err: CodeInvalidInput},
		{name: "punctuation", given: team(), when: reserve(member, projectID, "T-F"), err: CodeInvalidInput},
		{name: "nil project id", given: team(), when: reserve(member, uuid.Nil, "TF"), err: CodeInvalidInput},
	})
}

func TestWorkspaceQueries(t *testing.T) {
	t.Parallel()
	w, err := LoadWorkspace(evs(team(),
		WorkspaceRenamed{WorkspaceID: wsID, Name: "Acme Corp", By: "olga", At: t0},
		invited(1, "zed@x.io", RoleMember), invited(2, "amy@x.io", RoleViewer), invited(3, "bob@x.io", RoleAdmin),
		WorkspaceInvitationRevoked{WorkspaceID: wsID, InvitationID: id(3), At: t0},
		WorkspaceMemberRoleChanged{WorkspaceID: wsID, UserID: "mia", From: RoleMember, To: RoleAdmin, At: t0},
		WorkspaceMemberRemoved{WorkspaceID: wsID, UserID: "max", Reason: MemberRemovedReasonLeft, At: t0},
		WorkspaceProjectKeyReserved{WorkspaceID: wsID, ProjectID: projectID, Key: "TF", At: t0},
		WebhookRegistered{WorkspaceID: wsID, WebhookID: hookID, URL: "https://x.io", SecretID: id(900), EventTypes: []string{EventTaskCreated}, At: t0},
	))
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != wsID || w.Name() != "Acme Corp" || w.Plan() != PlanFree || w.Version() != 15 || !w.CreatedAt().Equal(t0) {
		t.Fatalf("unexpected state: %s %q %s v%d", w.ID(), w.Name(), w.Plan(), w.Version())
	}
	var ids []UserID
	for _, m := range w.Members() {
		ids = append(ids, m.UserID)
	}
	if !reflect.DeepEqual(ids, []UserID{"adam", "mia", "olga", "vic"}) {
		t.Fatalf("members: %v", ids)
	}
	if r, ok := w.RoleOf("mia"); !ok || r != RoleAdmin {
		t.Fatalf("RoleOf(mia) = %s %v", r, ok)
	}
	if _, ok := w.RoleOf("max"); ok || w.IsMember("max") || !w.IsMember("vic") {
		t.Fatal("membership is wrong")
	}
	if m, ok := w.Member("olga"); !ok || m.Handle() != "olga" || m.Role != RoleOwner {
		t.Fatalf("Member(olga) = %+v", m)
	}
	mustCode(t, w.Authorize("vic", RoleMember), CodeForbidden)
	mustCode(t, w.Authorize("sam", RoleViewer), CodeForbidden)
	if err := w.Authorize("vic", RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := w.Authorize("olga", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, inv := range w.PendingInvitations(now) {
		emails = append(emails, inv.Email)
	}
	if !reflect.DeepEqual(emails, []string{"amy@x.io", "zed@x.io"}) {
		t.Fatalf("pending invitations: %v", emails)
	}
	if inv, ok := w.Invitation(id(3)); !ok || inv.Status != InvitationRevoked {
		t.Fatalf("Invitation(3) = %+v", inv)
	}
	if k, ok := w.ProjectKey(projectID); !ok || k != "TF" {
		t.Fatal("ProjectKey")
	}
	if p, ok := w.ProjectByKey("TF"); !ok || p != projectID {
		t.Fatal("ProjectByKey")
	}
	hooks := w.Webhooks()
	if len(hooks) != 1 || hooks[0].URL != "https://x.io" {
		t.Fatalf("webhooks: %+v", hooks)
	}
	hooks[0].EventTypes[0] = "changed"
	if h, _ := w.Webhook(hookID); h.EventTypes[0] != EventTaskCreated {
		t.Fatal("Webhooks must return copies")
	}
}

func TestLoadWorkspaceRejectsBadStreams(t *testing.T) {
	t.Parallel()
	_, err := LoadWorkspace(nil)
	mustCode(t, err, CodeNotFound)
	for name, history := range map[string][]Event{
		"does not start with created": {WorkspaceRenamed{WorkspaceID: wsID, Name: "x"}},
		"created twice":               evs(wsCreated(), WorkspaceCreated{WorkspaceID: wsID}),
		"foreign event":               evs(wsCreated(), taskCreated()),
	} {
		if _, err := LoadWorkspace(history); err == nil || CodeOf(err) != "" {
			t.Errorf("%s: want an internal error, got %v", name, err)
		}
	}
}

func TestWrongWorkspaceIsAnInternalError(t *testing.T) {
	t.Parallel()
	w, err := loadWorld(board())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadWorkspace([]Event{WorkspaceCreated{WorkspaceID: otherID, Name: "Other", Plan: PlanFree}, joined(member, RoleOwner)})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"project rename": func() error { _, err := w.project.Rename(other, member, "x", now); return err },
		"project nil ws": func() error { _, err := w.project.Archive(nil, member, now); return err },
		"task edit":      func() error { _, err := w.task.Archive(other, w.project, member, now); return err },
		"task unassign":  func() error { _, err := w.task.UnassignBecauseMemberRemoved(other, "mia", now); return err },
		"create task": func() error {
			_, _, err := CreateTask(other, w.project, w.numbers, member, id(9), NewTask{Title: "x"}, now)
			return err
		},
		"create project": func() error { _, _, err := CreateProject(nil, member, id(9), "x", "XX", now); return err },
	} {
		err := call()
		if !errors.Is(err, errWrongWorkspace) || CodeOf(err) != "" {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
