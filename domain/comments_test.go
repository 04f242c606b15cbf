package domain

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestComments(t *testing.T) {
	t.Parallel()
	add := func(a Actor, cid uuid.UUID, body string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.AddComment(w.workspace, w.project, a, cid, body, now) }
	}
	edit := func(a Actor, cid uuid.UUID, body string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.EditComment(w.workspace, w.project, a, cid, body, now) }
	}
	del := func(a Actor, cid uuid.UUID) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.task.DeleteComment(w.workspace, w.project, a, cid, now) }
	}
	added := func(a Actor, body string, mentions ...UserID) []Event {
		if mentions == nil {
			mentions = []UserID{}
		}
		return []Event{TaskCommentAdded{TaskID: taskID, ProjectID: projectID, CommentID: commentID, Body: body, Mentions: mentions, By: a.UserID, At: now}}
	}
	withComment := board(commentAdded(commentID, member, "Looks good @adam", "adam"))
	deleted := TaskCommentDeleted{TaskID: taskID, ProjectID: projectID, CommentID: commentID, By: "mia", At: t0}
	run(t, []scenario{
		{name: "plain comment", given: board(), when: add(member, commentID, "  Looks good.\n"), then: added(member, "Looks good.")},
		{name: "mentions resolve to members only", given: board(), when: add(member, commentID, "@ADAM, @max.power and @vic: see mail to bob@example.com, cc @sam @nobody @olga."),
			then: added(member, "@ADAM, @max.power and @vic: see mail to bob@example.com, cc @sam @nobody @olga.", "adam", "max", "olga", "vic")},
		{name: "a user id is a handle too", given: board(), when: add(member, commentID, "ping @max"), then: added(member, "ping @max", "max")},
		{name: "admin comments", given: board(), when: add(admin, commentID, "ok"), then: added(admin, "ok")},
		{name: "10000 characters", given: board(), when: add(member, commentID, strings.Repeat("é", 10000)), then: added(member, strings.Repeat("é", 10000))},
		{name: "10001 characters", given: board(), when: add(member, commentID, strings.Repeat("é", 10001)), err: CodeInvalidInput},
		{name: "blank body", given: board(), when: add(member, commentID, " \n "), err: CodeInvalidInput},
		{name: "body with a NUL byte", given: board(), when: add(member, commentID, "a\x00"), err: CodeInvalidInput},
		{name: "nil comment id", given: board(), when: add(member, uuid.Nil, "ok"), err: CodeInvalidInput},
		{name: "comment id taken", given: withComment, when: add(member, commentID, "ok"), err: CodeConflict},
		{name: "viewer cannot comment", given: board(), when: add(viewer, commentID, "ok"), err: CodeForbidden},
		{name: "non-member cannot comment", given: board(), when: add(stranger, commentID, "ok"), err: CodeForbidden},

		{name: "author edits, with new mentions", given: withComment, when: edit(member, commentID, "Looks good @adam @olga"),
			then: []Event{TaskCommentEdited{TaskID: taskID, ProjectID: projectID, CommentID: commentID, Body: "Looks good @adam @olga", Mentions: []UserID{"adam", "olga"}, NewMentions: []UserID{"olga"}, By: "mia", At: now}}},
		{name: "author edits, dropping mentions", given: withComment, when: edit(member, commentID, "Looks good"),
			then: []Event{TaskCommentEdited{TaskID: taskID, ProjectID: projectID, CommentID: commentID, Body: "Looks good", Mentions: []UserID{}, NewMentions: []UserID{}, By: "mia", At: now}}},
		{name: "same body changes nothing", given: withComment, when: edit(member, commentID, "Looks good @adam ")},
		{name: "another member cannot edit", given: withComment, when: edit(member2, commentID, "x"), err: CodeForbidden},
		{name: "an admin cannot edit someone else's comment", given: withComment, when: edit(admin, commentID, "x"), err: CodeForbidden},
		{name: "a deleted comment cannot be edited", given: evs(withComment, deleted), when: edit(member, commentID, "x"), err: CodePreconditionFailed},
		{name: "edit an unknown comment", given: withComment, when: edit(member, otherID, "x"), err: CodeNotFound},
		{name: "edit with a blank body", given: withComment, when: edit(member, commentID, ""), err: CodeInvalidInput},
		{name: "author demoted to viewer cannot edit", given: evs(withComment, WorkspaceMemberRoleChanged{WorkspaceID: wsID, UserID: "mia", From: RoleMember, To: RoleViewer, At: t0}), when: edit(member, commentID, "x"), err: CodeForbidden},

		{name: "author deletes", given: withComment, when: del(member, commentID), then: []Event{TaskCommentDeleted{TaskID: taskID, ProjectID: projectID, CommentID: commentID, By: "mia", At: now}}},
		{name: "admin deletes anyone's", given: withComment, when: del(admin, commentID), then: []Event{TaskCommentDeleted{TaskID: taskID, ProjectID: projectID, CommentID: commentID, By: "adam", At: now}}},
		{name: "owner deletes anyone's", given: withComment, when: del(owner, commentID), then: []Event{TaskCommentDeleted{TaskID: taskID, ProjectID: projectID, CommentID: commentID, By: "olga", At: now}}},
		{name: "another member cannot delete", given: withComment, when: del(member2, commentID), err: CodeForbidden},
		{name: "viewer cannot delete", given: withComment, when: del(viewer, commentID), err: CodeForbidden},
		{name: "delete twice changes nothing", given: evs(withComment, deleted), when: del(member, commentID)},
		{name: "delete an unknown comment", given: withComment, when: del(member, otherID), err: CodeNotFound},
	})
}

func TestParseMentions(t *testing.T) {
	t.Parallel()
	for text, want := range map[string][]string{
		"":                                 nil,
		"no mentions, mail a@b.io":         nil,
		"@Alice":                           {"alice"},
		"hi @alice, @bob. @alice again":    {"alice", "bob"},
		"(@carol) @dave.smith! @e_f-g+h.":  {"carol", "dave.smith", "e_f-g+h"},
		"@ @. @@x":                         {"x"},
		"email@example.com @real":          {"real"},
		"@" + strings.Repeat("a", 65) + "": nil,
	} {
		if got := ParseMentions(text); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseMentions(%q) = %q, want %q", text, got, want)
		}
	}
}
