package sideeffects

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
)

// TestEmailNeedsNoCreator: side_effect_tasks keeps no creator, so enqueueEmails resolves the
// notification rule with the assignee only. That mails exactly whom the full rule mails only
// while the rule emails nobody as a task's creator; if that changes, side_effect_tasks needs a
// created_by column.
func TestEmailNeedsNoCreator(t *testing.T) {
	t.Parallel()
	task, comment := uuid.New(), uuid.New()
	mailed := func(e domain.Event, c domain.NotifyContext) []domain.Notice {
		var out []domain.Notice
		for _, n := range domain.Notify(e, c) {
			if n.Channels.Has(domain.ChannelEmail) {
				out = append(out, n)
			}
		}
		return out
	}
	events := []domain.Event{
		domain.TaskCreated{TaskID: task, Assignee: "b", By: "a"},
		domain.TaskAssigned{TaskID: task, Assignee: "c", By: "a"},
		domain.TaskCommentAdded{TaskID: task, CommentID: comment, Mentions: []domain.UserID{"c", "m"}, By: "a"},
		domain.TaskCommentAdded{TaskID: task, CommentID: comment, By: "a"},
		domain.TaskCommentEdited{TaskID: task, CommentID: comment, NewMentions: []domain.UserID{"c"}, By: "a"},
	}
	for _, e := range events {
		for _, assignee := range []domain.UserID{"", "a", "b", "c", "m"} {
			for _, creator := range []domain.UserID{"a", "b", "c", "m", "z"} {
				full := domain.NotifyContext{Assignee: assignee, Creator: creator}
				require.Equal(t, mailed(e, full), mailed(e, domain.NotifyContext{Assignee: assignee}),
					"%T with %+v", e, full)
			}
		}
	}
}
