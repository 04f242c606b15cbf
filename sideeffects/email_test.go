package sideeffects_test

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/sideeffects"
)

// Assignment, mention and comment-on-your-task emails reach an in-process SMTP server with the
// right recipients, and reading the same events again sends nothing twice.
func TestEmailNotifications(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	f := setup(t, func(o *sideeffects.Options) {
		o.Email.Addr = mb.addr
		o.Email.From = "Taskforge <noreply@taskforge.test>"
	})
	b := f.board()
	task := f.task(b, "Ship it", other.UserID) // member assigns max: max is mailed
	_, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: other, TaskID: task, Body: "@mia and @adam, please review"})
	require.NoError(t, err) // mia and adam are mentioned; max wrote it and is not mailed
	_, err = f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: owner, TaskID: task, Body: "Looks good"})
	require.NoError(t, err) // a comment on max's task: max is mailed
	_, err = f.h.AssignTask.Handle(f.ctx, commands.AssignTask{Actor: member, TaskID: task, Assignee: member.UserID})
	require.NoError(t, err) // mia assigns herself: nobody is mailed

	f.eventually("four emails", func() bool { return len(mb.notices()) >= 4 })
	got := map[string][]string{}
	for _, m := range mb.notices() {
		require.Len(t, m.to, 1)
		require.Equal(t, "noreply@taskforge.test", m.from)
		kind := m.msg.Header.Get("X-Taskforge-Notification")
		got[m.to[0]] = append(got[m.to[0]], kind)
		subject, err := new(mime.WordDecoder).DecodeHeader(m.msg.Header.Get("Subject"))
		require.NoError(t, err)
		require.Contains(t, subject, "TF-1: Ship it")
		body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.body)))
		require.NoError(t, err)
		if kind == sideeffects.EmailMentioned {
			require.Contains(t, string(body), "> @mia and @adam, please review")
			require.Contains(t, subject, "Max mentioned you")
		}
	}
	for _, kinds := range got {
		slices.Sort(kinds)
	}
	require.Equal(t, map[string][]string{
		other.Email:  {sideeffects.EmailAssigned, sideeffects.EmailCommented},
		member.Email: {sideeffects.EmailMentioned},
		admin.Email:  {sideeffects.EmailMentioned},
	}, got)
	f.eventually("all marked sent", func() bool { return len(f.notices(b.ws, "sent")) == 4 })

	// Read the whole log again from the start: nothing is enqueued or sent twice. The consumer
	// group loads its checkpoint when it starts: rewind it while the runner is stopped. (Head
	// stops below the cluster-wide horizon, which other tests' transactions may hold back, so
	// positions are compared with "at least".)
	head, err := f.store.Head(f.ctx)
	require.NoError(t, err)
	var reached eventstore.GlobalPosition
	f.eventually("consumer at the head", func() bool {
		s, err := f.inspector.Consumer(f.ctx)
		require.NoError(t, err)
		reached = eventstore.GlobalPosition{TransactionID: s.TransactionID, Position: s.Position}
		return !reached.Less(head)
	})
	f.stop()
	_, err = f.pool.Exec(f.ctx, `UPDATE side_effect_consumers SET transaction_id = 0, position = 0`)
	require.NoError(t, err)
	f.start()
	f.eventually("consumer caught up again", func() bool {
		s, err := f.inspector.Consumer(f.ctx)
		require.NoError(t, err)
		return !(eventstore.GlobalPosition{TransactionID: s.TransactionID, Position: s.Position}).Less(reached)
	})
	all := f.notices(b.ws, "")
	require.Len(t, all, 4, "%+v", all)
	require.Len(t, mb.notices(), 4)
	require.Len(t, mb.messages(), 7, "and the three invitations, once")
}

// Without SMTP configuration, notifications are recorded as skipped (with the reason), not lost.
func TestEmailUnconfiguredIsSkipped(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	b := f.board()
	f.task(b, "Ship it", other.UserID)

	var emails []sideeffects.Email
	f.eventually("skipped email recorded", func() bool {
		emails = f.notices(b.ws, "")
		return len(emails) == 1
	})
	e := emails[0]
	require.Equal(t, "skipped", e.Status)
	require.Equal(t, sideeffects.EmailAssigned, e.Kind)
	require.Equal(t, other.Email, e.RecipientEmail)
	require.Contains(t, e.LastError, "SMTP_ADDR")
	require.Zero(t, e.Attempts)
	// Once SMTP is configured, an operator can send it: retry takes skipped emails too.
	require.NoError(t, f.inspector.Retry(f.ctx, sideeffects.DeadLetterID{Kind: sideeffects.KindEmail, Row: e.ID}))
	emails = f.notices(b.ws, "")
	require.Equal(t, "pending", emails[0].Status)
}

// A transient SMTP refusal (4xx) is retried; a permanent one (5xx) is a dead letter at once.
func TestEmailTransientAndPermanentFailures(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	f := setup(t, func(o *sideeffects.Options) {
		o.Email.Addr = mb.addr
		o.Email.From = "noreply@taskforge.test"
	})
	b := f.board()
	f.eventually("the invitations sent", func() bool { return len(mb.messages()) == 3 })
	mb.arm(func(to string, attempt int) error {
		switch {
		case to == admin.Email:
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
		case to == other.Email && attempt == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	task := f.task(b, "Ship it", other.UserID)
	_, err := f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: member, TaskID: task, Body: "cc @adam"})
	require.NoError(t, err)

	f.eventually("one sent, one dead", func() bool {
		// max is also mailed about the comment on his task
		return len(f.notices(b.ws, "sent")) == 2 && len(f.notices(b.ws, "dead")) == 1
	})
	emails := f.notices(b.ws, "")
	toMax := 0
	for _, e := range emails {
		switch e.RecipientEmail {
		case other.Email: // max's two emails (assigned, commented) race for the one 451
			toMax += e.Attempts
		case admin.Email:
			require.Equal(t, 1, e.Attempts, "550 is permanent")
			require.Contains(t, e.LastError, "550")
		}
	}
	require.Equal(t, 3, toMax, "one 451, retried")
	page, err := f.inspector.ListDeadLetters(f.ctx, sideeffects.DeadLetterQuery{})
	require.NoError(t, err)
	dead := page.Items
	require.Len(t, dead, 1)
	require.Equal(t, "email", dead[0].Kind)
	require.Equal(t, admin.Email, dead[0].Target)
	require.Len(t, mb.notices(), 2)
}
