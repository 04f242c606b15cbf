package sideeffects_test

import (
	"io"
	"mime/quotedprintable"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/sideeffects"
)

var linkKey = []byte("0123456789abcdef0123456789abcdef")

func TestUnsubscribeToken(t *testing.T) {
	t.Parallel()
	tok := sideeffects.UnsubscribeToken(linkKey, "auth0|max.1", "mentioned")
	user, kind, err := sideeffects.ParseUnsubscribeToken(linkKey, tok)
	require.NoError(t, err)
	require.Equal(t, "auth0|max.1", user)
	require.Equal(t, "mentioned", kind)
	all := sideeffects.UnsubscribeToken(linkKey, "max", sideeffects.UnsubscribeAll)
	_, kind, err = sideeffects.ParseUnsubscribeToken(linkKey, all)
	require.NoError(t, err)
	require.Equal(t, sideeffects.UnsubscribeAll, kind)

	forged := strings.Replace(tok, ".mentioned.", ".assigned.", 1)
	for name, bad := range map[string]string{
		"another key":     sideeffects.UnsubscribeToken([]byte("another key of thirty-two bytes!"), "max", "mentioned"),
		"another kind":    forged,
		"unknown kind":    sideeffects.UnsubscribeToken(linkKey, "max", "everything"),
		"no user":         sideeffects.UnsubscribeToken(linkKey, "", "assigned"),
		"truncated":       tok[:len(tok)-2],
		"empty":           "",
		"no signature":    "bWF4.assigned",
		"garbage":         "a.b.c.d",
		"too long":        strings.Repeat("a", 2000),
		"signature twice": tok + "." + tok[strings.LastIndexByte(tok, '.')+1:],
	} {
		_, _, err := sideeffects.ParseUnsubscribeToken(linkKey, bad)
		require.ErrorIs(t, err, sideeffects.ErrBadUnsubscribeToken, name)
	}
	_, _, err = sideeffects.ParseUnsubscribeToken(nil, tok)
	require.ErrorIs(t, err, sideeffects.ErrBadUnsubscribeToken, "no key: nothing verifies")
}

// Emails link to the task and to the invitation, carry a signed one-click List-Unsubscribe, and
// a kind a recipient turned off is not mailed.
func TestEmailLinksAndPreferences(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	f := setup(t, func(o *sideeffects.Options) {
		o.Email.Addr = mb.addr
		o.Email.From = "noreply@taskforge.test"
		o.Email.AppURL = "https://app.taskforge.test"
		o.Email.APIURL = "https://api.taskforge.test"
		o.Email.LinkKey = linkKey
	})
	b := f.board()
	f.eventually("the invitations", func() bool { return len(mb.messages()) == 3 })
	inv := mb.messages()[0]
	require.Equal(t, sideeffects.EmailKindInvited, inv.msg.Header.Get("X-Taskforge-Notification"))
	require.Empty(t, inv.msg.Header.Get("List-Unsubscribe"), "an invitation goes to no user yet")
	body := decodeQP(t, inv.body)
	require.Contains(t, body, "Olga invited you to join the workspace Acme on Taskforge as ")
	require.Contains(t, body, "Accept the invitation: https://app.taskforge.test/invitations/"+b.ws.String()+"/")
	require.Contains(t, body, "The invitation expires on ")

	_, err := f.pool.Exec(f.ctx, `INSERT INTO notification_preferences (user_id, kind, email) VALUES ('max', 'commented', false)`)
	require.NoError(t, err)
	task := f.task(b, "Ship it", other.UserID)
	_, err = f.h.AddComment.Handle(f.ctx, commands.AddComment{Actor: owner, TaskID: task, Body: "Done? cc @mia"})
	require.NoError(t, err)
	f.eventually("assigned and mentioned", func() bool { return len(mb.notices()) == 2 })
	var rows int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM email_outbox WHERE recipient_user_id = 'max'`).Scan(&rows))
	require.Equal(t, 1, rows, "max turned comment emails off: only the assignment")

	for _, m := range mb.notices() {
		kind := m.msg.Header.Get("X-Taskforge-Notification")
		body := decodeQP(t, m.body)
		require.Contains(t, body, "Open TF-1: https://app.taskforge.test/workspaces/"+b.ws.String()+"/tasks/TF-1")
		require.Equal(t, "List-Unsubscribe=One-Click", m.msg.Header.Get("List-Unsubscribe-Post"))
		h := m.msg.Header.Get("List-Unsubscribe")
		require.True(t, strings.HasPrefix(h, "<https://api.taskforge.test"+sideeffects.UnsubscribePath+"?token=") && strings.HasSuffix(h, ">"), h)
		u, err := url.Parse(strings.Trim(h, "<>"))
		require.NoError(t, err)
		user, k, err := sideeffects.ParseUnsubscribeToken(linkKey, u.Query().Get("token"))
		require.NoError(t, err)
		require.Equal(t, kind, k)
		want := map[string]string{"assigned": "max", "mentioned": "mia"}[kind]
		require.Equal(t, want, user)
		require.Contains(t, body, "Stop these emails ("+kind+"): https://api.taskforge.test/email/unsubscribe?token=")
		require.Contains(t, body, "Stop all notification emails: https://api.taskforge.test/email/unsubscribe?token="+
			sideeffects.UnsubscribeToken(linkKey, want, sideeffects.UnsubscribeAll))
	}
}

func decodeQP(t *testing.T, s string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	require.NoError(t, err)
	return string(b)
}
