package domain

import "github.com/google/uuid"

// Notification kinds: stable wire values, stored in the inbox (rm_notifications.kind), the email
// outbox (email_outbox.kind) and sent in X-Taskforge-Notification. Never rename one.
const (
	NotifyAssigned  = "assigned"  // you were assigned a task
	NotifyMentioned = "mentioned" // you were @mentioned in a comment (added, or edited to mention you)
	NotifyCommented = "commented" // a comment on a task you are assigned to or created
)

// NotificationKinds lists the kinds, in the order preferences are shown.
func NotificationKinds() []string { return []string{NotifyAssigned, NotifyMentioned, NotifyCommented} }

// Channel is a set of ways a notice reaches its recipient.
type Channel uint8

const (
	// ChannelInbox: a row in the user's inbox (projections, the notifications read model).
	ChannelInbox Channel = 1 << iota
	// ChannelEmail: a message in the email outbox (sideeffects).
	ChannelEmail
	// ChannelLive: pushed to the user's open notificationAdded subscriptions (graph/live). The hub
	// pushes inbox rows, so a live notice is always an inbox notice too.
	ChannelLive
)

// Has reports whether c includes every channel of o.
func (c Channel) Has(o Channel) bool { return c&o == o }

// TaskRole is a recipient named by their relation to the task rather than by id: consumers know who
// holds it from their own state (NotifyContext).
type TaskRole uint8

const (
	NamedUser    TaskRole = iota // the recipient is PlannedNotice.User
	AssigneeRole                 // the task's assignee when the event happened (none: nobody)
	CreatorRole                  // the user who created the task
)

// PlannedNotice is one notice of a NotifyPlan: to a user, or to whoever holds a role.
type PlannedNotice struct {
	User     UserID // when Role is NamedUser
	Role     TaskRole
	Kind     string
	Channels Channel
}

// NotifyPlan is what an event notifies, before roles are resolved to users: the rule itself. Notices
// are in precedence order: a user reached by several gets only the first (a mentioned assignee
// hears "mentioned", not also "commented"), and the actor gets none.
type NotifyPlan struct {
	Actor   UserID
	TaskID  uuid.UUID
	Comment uuid.UUID // uuid.Nil unless the notices are about a comment
	Notices []PlannedNotice
}

// NotifyContext is what the rule needs to know beyond the event: the task's assignee and creator
// as they were when the event happened (empty: none, or not known to the caller; see Notify).
type NotifyContext struct {
	Assignee UserID
	Creator  UserID
}

// Notice is one resolved notification: User hears of the event as Kind, through Channels.
type Notice struct {
	User     UserID
	Kind     string
	Channels Channel
}

const (
	everywhere = ChannelInbox | ChannelEmail | ChannelLive
	quietly    = ChannelInbox | ChannelLive // no email
)

// PlanNotifications is the one rule of who is notified of what, and how. Every consumer follows
// it: the inbox projection, the email outbox and the live hub (through Notify, or through the
// plan where roles are resolved in SQL).
//
//	event                      recipient                          kind       inbox  email  live
//	task.created (assigned)    the assignee                       assigned   yes    yes    yes
//	task.assigned              the new assignee                   assigned   yes    yes    yes
//	task.comment_added         each mentioned user                mentioned  yes    yes    yes
//	                           the task's assignee                commented  yes    yes    yes
//	                           the task's creator                 commented  yes    no     yes
//	task.comment_edited        each newly mentioned user          mentioned  yes    yes    yes
//
// Never the actor; each user at most once per event, by the first row that reaches them (a
// mentioned assignee hears "mentioned"; a creator who is also the assignee is mailed as the
// assignee).
//
// The task's creator hears of comments in the inbox and live, not by email: email is kept for
// what asks something of its recipient (work assigned to them, a question put to them by a
// mention, a comment on work they are doing). A creator who wants a comment's email is mentioned.
//
// Nothing else notifies today: status changes, unassignment and other task edits reach no inbox,
// mailbox or subscription. Workspace invitations name an email address, not a user: sideeffects
// mails the address, outside this rule (no inbox, no preference).
func PlanNotifications(e Event) NotifyPlan {
	switch x := e.(type) {
	case TaskCreated:
		p := NotifyPlan{Actor: x.By, TaskID: x.TaskID}
		if x.Assignee != "" {
			p.Notices = []PlannedNotice{{User: x.Assignee, Kind: NotifyAssigned, Channels: everywhere}}
		}
		return p
	case TaskAssigned:
		return NotifyPlan{Actor: x.By, TaskID: x.TaskID,
			Notices: []PlannedNotice{{User: x.Assignee, Kind: NotifyAssigned, Channels: everywhere}}}
	case TaskCommentAdded:
		p := NotifyPlan{Actor: x.By, TaskID: x.TaskID, Comment: x.CommentID}
		for _, u := range x.Mentions {
			p.Notices = append(p.Notices, PlannedNotice{User: u, Kind: NotifyMentioned, Channels: everywhere})
		}
		p.Notices = append(p.Notices,
			PlannedNotice{Role: AssigneeRole, Kind: NotifyCommented, Channels: everywhere},
			PlannedNotice{Role: CreatorRole, Kind: NotifyCommented, Channels: quietly})
		return p
	case TaskCommentEdited:
		p := NotifyPlan{Actor: x.By, TaskID: x.TaskID, Comment: x.CommentID}
		for _, u := range x.NewMentions {
			p.Notices = append(p.Notices, PlannedNotice{User: u, Kind: NotifyMentioned, Channels: everywhere})
		}
		return p
	}
	return NotifyPlan{}
}

// Resolve turns the plan's roles into users with c, then keeps the first notice of each user and
// drops the actor's and those of roles nobody holds.
func (p NotifyPlan) Resolve(c NotifyContext) []Notice {
	var out []Notice
	seen := map[UserID]bool{}
	for _, n := range p.Notices {
		u := n.User
		switch n.Role {
		case AssigneeRole:
			u = c.Assignee
		case CreatorRole:
			u = c.Creator
		}
		if u == "" || u == p.Actor || seen[u] {
			continue
		}
		seen[u] = true
		out = append(out, Notice{User: u, Kind: n.Kind, Channels: n.Channels})
	}
	return out
}

// Notify is PlanNotifications(e) resolved with c: who hears of e, as what, through which
// channels. It does no I/O: the caller knows the task's assignee and creator from its own state.
func Notify(e Event, c NotifyContext) []Notice { return PlanNotifications(e).Resolve(c) }
