package projections

import (
	"github.com/google/uuid"
)

// activityFolder is applyActivity in memory (see bulk.go): the names a line shows are looked up
// in memory as the live statement's joins would find them at that point of the log, and the line
// is rendered by pgFormat as activitySQL's format() renders it.
type activityFolder struct {
	people   *bulkPeople // rm_activity_people
	subjects *bulkTable[uuid.UUID, activitySubject]
	lines    *bulkCopy
}

func newActivityFolder(v int) bulkFolder {
	return &activityFolder{
		people: newBulkPeople(v, "rm_activity_people"),
		subjects: newBulkTable(v, "rm_activity_subjects", []string{"id", "key", "label"}, 1,
			func(id uuid.UUID, s *activitySubject) []any { return []any{pgUUID(id), s.key, s.label} }),
		lines: newBulkCopy(v, "rm_activity", "workspace_id", "transaction_id", "position", "event_id", "event_type", "actor_id",
			"actor_name", "subject_id", "line", "at"),
	}
}

// insertOnly: rm_activity is only ever appended to with COPY (rebuild_keys.go).
func (f *activityFolder) insertOnly() []string { return []string{"rm_activity"} }

func (f *activityFolder) take() bulkJob { return takeAll(f.people, f.subjects, f.lines) }

func (f *activityFolder) apply(e *Event) error {
	c := activityOf(e)
	if c.renamed {
		f.people.renamed(c.renamedUser, c.renamedTo)
	}
	if c.joined != nil {
		f.people.joined(*c.joined, c.joinedName)
	}
	if c.subject != nil {
		if err := f.subjects.insert(c.subject.id, *c.subject); err != nil {
			return err
		}
	}
	if c.line == nil {
		return nil
	}
	l := c.line
	actor := lineActor(e)
	actorName := actor
	if n := f.people.get(wsUser{c.ws, actor}); n != nil {
		actorName = *n
	}
	label := "?"
	if l.subject != uuid.Nil {
		if s := f.subjects.get(l.subject); s != nil {
			label = s.label
		}
	}
	other := ""
	if l.other != "" {
		other = string(l.other)
		if n := f.people.get(wsUser{c.ws, other}); n != nil {
			other = *n
		}
	}
	text, err := pgFormat(l.format, actorName, label, other, l.arg1, l.arg2)
	if err != nil {
		return err
	}
	f.lines.add(pgUUID(c.ws), int64(e.TransactionID), e.Position, pgUUID(e.ID), e.Type, actor, actorName, optUUID(l.subject),
		text, e.RecordedAt)
	switch {
	case c.projectRenamed != uuid.Nil:
		if s := f.subjects.mod(c.projectRenamed); s != nil {
			s.label = c.newName + " (" + s.key + ")"
		}
	case c.taskRenamed != uuid.Nil:
		if s := f.subjects.mod(c.taskRenamed); s != nil {
			s.label = s.key + " “" + c.newName + "”"
		}
	}
	return nil
}
