package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// TaskCommentAdded: By is the author; Mentions are the members @mentioned.
type TaskCommentAdded struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	CommentID uuid.UUID `json:"comment_id"`
	Body      string    `json:"body"`
	Mentions  []UserID  `json:"mentions"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

// TaskCommentEdited carries the new body and all its mentions; NewMentions
// are those not mentioned before, so notifications need no extra state.
type TaskCommentEdited struct {
	TaskID      uuid.UUID `json:"task_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	CommentID   uuid.UUID `json:"comment_id"`
	Body        string    `json:"body"`
	Mentions    []UserID  `json:"mentions"`
	NewMentions []UserID  `json:"new_mentions"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

type TaskCommentDeleted struct {
	TaskID    uuid.UUID `json:"task_id"`
	ProjectID uuid.UUID `json:"project_id"`
	CommentID uuid.UUID `json:"comment_id"`
	By        UserID    `json:"by"`
	At        time.Time `json:"at"`
}

func (TaskCommentAdded) EventType() string { return EventTaskCommentAdded }

func (TaskCommentEdited) EventType() string { return EventTaskCommentEdited }

func (TaskCommentDeleted) EventType() string { return EventTaskCommentDeleted }

// Comment on a task. A deleted comment keeps its place but loses its body
// (the body remains in the event history).
type Comment struct {
	ID        uuid.UUID  `json:"id"`
	Author    UserID     `json:"author"`
	Body      string     `json:"body"`
	Mentions  []UserID   `json:"mentions"`
	CreatedAt time.Time  `json:"created_at"`
	EditedAt  *time.Time `json:"edited_at,omitempty"`
	Deleted   bool       `json:"deleted"`
}

// AddComment adds a comment (member+), recording the members it @mentions.
func (t *Task) AddComment(ws *Workspace, p *Project, actor Actor, commentID uuid.UUID, body string, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	if commentID == uuid.Nil {
		return nil, InvalidInput("comment_id", "must not be empty")
	}
	if _, exists := t.comment(commentID); exists {
		return nil, Conflict("this comment id is already used")
	}
	body, err := cleanCommentBody(body)
	if err != nil {
		return nil, err
	}
	return []Event{TaskCommentAdded{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, CommentID: commentID, Body: body,
		Mentions: ws.mentionedMembers(body), By: actor.UserID, At: now.UTC(),
	}}, nil
}

// EditComment changes the body of one's own comment (member+; author only;
// not once deleted).
func (t *Task) EditComment(ws *Workspace, p *Project, actor Actor, commentID uuid.UUID, body string, now time.Time) ([]Event, error) {
	if _, err := t.authorizeChange(ws, p, actor); err != nil {
		return nil, err
	}
	c, ok := t.comment(commentID)
	if !ok {
		return nil, NotFound("comment not found")
	}
	if c.Author != actor.UserID {
		return nil, Forbidden("only its author can edit a comment")
	}
	if c.Deleted {
		return nil, PreconditionFailed("a deleted comment cannot be edited")
	}
	body, err := cleanCommentBody(body)
	if err != nil {
		return nil, err
	}
	if body == c.Body {
		return nil, nil
	}
	mentions := ws.mentionedMembers(body)
	newMentions := []UserID{}
	for _, m := range mentions {
		if !slices.Contains(c.Mentions, m) {
			newMentions = append(newMentions, m)
		}
	}
	return []Event{TaskCommentEdited{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, CommentID: commentID, Body: body,
		Mentions: mentions, NewMentions: newMentions, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// DeleteComment deletes a comment: one's own (member+), or anyone's
// (admin+). Deleting a deleted comment records nothing.
func (t *Task) DeleteComment(ws *Workspace, p *Project, actor Actor, commentID uuid.UUID, now time.Time) ([]Event, error) {
	role, err := t.authorizeChange(ws, p, actor)
	if err != nil {
		return nil, err
	}
	c, ok := t.comment(commentID)
	if !ok {
		return nil, NotFound("comment not found")
	}
	if c.Author != actor.UserID && !role.AtLeast(RoleAdmin) {
		return nil, Forbidden("only its author or an admin can delete a comment")
	}
	if c.Deleted {
		return nil, nil
	}
	return []Event{TaskCommentDeleted{
		TaskID: t.state.ID, ProjectID: t.state.ProjectID, CommentID: commentID, By: actor.UserID, At: now.UTC(),
	}}, nil
}

func (t *Task) comment(id uuid.UUID) (Comment, bool) {
	for _, c := range t.state.Comments {
		if c.ID == id {
			return c, true
		}
	}
	return Comment{}, false
}

func cleanCommentBody(body string) (string, error) {
	if len(body) > MaxCommentLen*utf8.UTFMax+maxPadding {
		return "", InvalidInput("body", fmt.Sprintf("must be at most %d characters", MaxCommentLen))
	}
	body = strings.TrimSpace(body)
	if err := checkText("body", body); err != nil {
		return "", err
	}
	switch n := utf8.RuneCountInString(body); {
	case n == 0:
		return "", InvalidInput("body", "must not be empty")
	case Invisible(body):
		return "", InvalidInput("body", "must contain visible characters")
	case n > MaxCommentLen:
		return "", InvalidInput("body", fmt.Sprintf("must be at most %d characters", MaxCommentLen))
	}
	return body, nil
}

// ParseMentions returns the handles @mentioned in text, lower-cased, without
// duplicates, in order of appearance. A mention is "@" followed by letters,
// digits, '.', '_', '-' or '+' (a trailing '.' ends the sentence, not the
// handle), and is not preceded by such a character, so that
// "bob@example.com" mentions no one.
func ParseMentions(text string) []string {
	var handles []string
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || (i > 0 && isHandleChar(text[i-1])) {
			continue
		}
		j := i + 1
		for j < len(text) && isHandleChar(text[j]) {
			j++
		}
		h := strings.ToLower(strings.TrimRight(text[i+1:j], "."))
		if h != "" && len(h) <= 64 && !slices.Contains(handles, h) {
			handles = append(handles, h)
		}
		i = j - 1
	}
	return handles
}

func isHandleChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '+'
}

// mentionedMembers resolves the mentions in text to members, sorted. A
// member's handles are the local part of their email and their user id,
// both matched case-insensitively; a handle shared by several members
// mentions them all. The result is never nil, so it encodes as [].
func (w *Workspace) mentionedMembers(text string) []UserID {
	out := []UserID{}
	handles := ParseMentions(text)
	if len(handles) == 0 {
		return out
	}
	for _, m := range w.state.Members {
		for _, h := range handles {
			if m.Handle() == h || strings.ToLower(string(m.UserID)) == h {
				out = append(out, m.UserID)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// Comment returns one comment, deleted ones included.
func (t *Task) Comment(id uuid.UUID) (Comment, bool) {
	c, ok := t.comment(id)
	return cloneComment(c), ok
}

// Comments returns the comments in the order they were added, deleted ones
// included.
func (t *Task) Comments() []Comment {
	out := make([]Comment, len(t.state.Comments))
	for i, c := range t.state.Comments {
		out[i] = cloneComment(c)
	}
	return out
}

func cloneComment(c Comment) Comment {
	c.Mentions = slices.Clone(c.Mentions)
	c.EditedAt = copyTime(c.EditedAt)
	return c
}

func (t *Task) commentIndex(id uuid.UUID) int {
	return slices.IndexFunc(t.state.Comments, func(c Comment) bool { return c.ID == id })
}
