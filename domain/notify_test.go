package domain

import (
	"fmt"
	"testing"
)

// TestNotify is the rule as a table: every notifying event (and the ones that notify nobody) ×
// every role a user can hold × every channel.
func TestNotify(t *testing.T) {
	t.Parallel()
	const (
		actor, assignee, creator, mentioned, other UserID = "actor", "assignee", "creator", "mentioned", "other"
	)
	ctx := NotifyContext{Assignee: assignee, Creator: creator}
	type heard struct {
		kind               string
		inbox, email, live bool
	}
	all := func(kind string) heard { return heard{kind, true, true, true} }
	noEmail := func(kind string) heard { return heard{kind, true, false, true} }
	none := heard{}
	mentions := []UserID{mentioned, actor} // the actor mentioning themselves hears nothing
	for _, tc := range []struct {
		name  string
		event Event
		want  map[UserID]heard // by role; absent: none
	}{
		{"task created assigned", TaskCreated{TaskID: taskID, Assignee: assignee, By: actor},
			map[UserID]heard{assignee: all(NotifyAssigned)}},
		{"task created unassigned", TaskCreated{TaskID: taskID, By: actor}, nil},
		{"task assigned", TaskAssigned{TaskID: taskID, Assignee: assignee, Previous: other, By: actor},
			map[UserID]heard{assignee: all(NotifyAssigned)}},
		{"comment added", TaskCommentAdded{TaskID: taskID, CommentID: commentID, Mentions: mentions, By: actor},
			map[UserID]heard{mentioned: all(NotifyMentioned), assignee: all(NotifyCommented), creator: noEmail(NotifyCommented)}},
		{"comment edited", TaskCommentEdited{TaskID: taskID, CommentID: commentID, Mentions: mentions,
			NewMentions: mentions, By: actor}, map[UserID]heard{mentioned: all(NotifyMentioned)}},
		{"task unassigned", TaskUnassigned{TaskID: taskID, Assignee: assignee, By: actor}, nil},
		{"status changed", TaskStatusChanged{TaskID: taskID, From: "todo", To: "done", By: actor}, nil},
		{"comment deleted", TaskCommentDeleted{TaskID: taskID, CommentID: commentID, By: actor}, nil},
		{"member invited", WorkspaceMemberInvited{WorkspaceID: wsID, InvitationID: invID, Email: "x@example.com"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[UserID]heard{}
			for _, n := range Notify(tc.event, ctx) {
				if _, dup := got[n.User]; dup {
					t.Errorf("%s notified twice", n.User)
				}
				if n.Channels.Has(ChannelLive) && !n.Channels.Has(ChannelInbox) {
					t.Errorf("%s: live without inbox (the hub pushes inbox rows)", n.User)
				}
				got[n.User] = heard{n.Kind, n.Channels.Has(ChannelInbox), n.Channels.Has(ChannelEmail), n.Channels.Has(ChannelLive)}
			}
			for _, role := range []UserID{actor, assignee, creator, mentioned, other} {
				want, ok := tc.want[role]
				if !ok {
					want = none
				}
				if got[role] != want {
					t.Errorf("%s: got %+v, want %+v", role, got[role], want)
				}
			}
		})
	}
}

// TestNotifyOverlaps covers users holding several roles: the first notice that reaches a user
// wins, and the actor hears nothing whatever else they are.
func TestNotifyOverlaps(t *testing.T) {
	t.Parallel()
	comment := func(by UserID, mentions ...UserID) Event {
		return TaskCommentAdded{TaskID: taskID, CommentID: commentID, Mentions: mentions, By: by}
	}
	for _, tc := range []struct {
		name  string
		event Event
		ctx   NotifyContext
		want  string
	}{
		{"mentioned assignee hears mentioned", comment("a", "b"), NotifyContext{Assignee: "b", Creator: "c"},
			"[b mentioned 7] [c commented 5]"},
		{"creator who is assignee is mailed as assignee", comment("a"), NotifyContext{Assignee: "b", Creator: "b"},
			"[b commented 7]"},
		{"mentioned creator is mailed", comment("a", "c"), NotifyContext{Assignee: "b", Creator: "c"},
			"[c mentioned 7] [b commented 7]"},
		{"assignee commenting", comment("b"), NotifyContext{Assignee: "b", Creator: "c"}, "[c commented 5]"},
		{"creator commenting", comment("c"), NotifyContext{Assignee: "b", Creator: "c"}, "[b commented 7]"},
		{"unassigned task", comment("a"), NotifyContext{Creator: "c"}, "[c commented 5]"},
		{"mentioned twice", comment("a", "m", "m"), NotifyContext{}, "[m mentioned 7]"},
		{"self-assigned", TaskAssigned{TaskID: taskID, Assignee: "a", By: "a"}, NotifyContext{}, ""},
		{"created assigned to self", TaskCreated{TaskID: taskID, Assignee: "a", By: "a"}, NotifyContext{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ""
			for i, n := range Notify(tc.event, tc.ctx) {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("[%s %s %d]", n.User, n.Kind, n.Channels)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
