package projections

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// Projection names are persistent identities (consumer group, registry key, table prefix): never
// rename one.
const (
	Workspaces    = "workspaces"
	Projects      = "projects"
	Tasks         = "tasks"
	Activity      = "activity"
	Notifications = "notifications"
)

// Projection is a named, versioned set of read tables and the code that folds events into them.
//
// Apply turns one event into SQL statements queued on a Writer; it does no I/O itself, so the
// same code serves live delivery (one event per transaction) and rebuilds (thousands of events
// per transaction, statements pipelined). Statements may read the projection's own tables (in
// subqueries) but never another projection's: projections are rebuilt independently.
type Projection struct {
	Name string
	// Revision is the shape of the tables Schema creates. Raise it with any change to Schema that
	// the queries or Apply depend on: a start of the new release then rebuilds the projection
	// before serving (Outdated; app.New). Zero means 1.
	Revision int
	// Tables are the base names of the read tables. Version v of table t is t_v<v>, and a view
	// named t points at the active version's table.
	Tables []string
	// Schema creates version {v}'s tables with the keys and indexes Apply's statements need.
	Schema string
	// QueryIndexes creates the indexes only the read queries need. A rebuild creates them after
	// its bulk load, which is faster than maintaining them row by row.
	QueryIndexes string
	Apply        func(w *Writer, e *Event) error
	// bulk, when set, returns the in-memory folder a rebuild's load phase uses instead of Apply
	// (bulk.go). It must produce exactly the rows Apply's statements would.
	bulk func(version int) bulkFolder
}

// revision is p.Revision, at least 1.
func (p *Projection) revision() int {
	if p.Revision < 1 {
		return 1
	}
	return p.Revision
}

// Event is a stored event with its decoded domain payload.
type Event struct {
	eventstore.RecordedEvent
	Payload domain.Event
}

// Decode decodes a recorded event's payload with reg.
func Decode(reg *domain.Registry, re eventstore.RecordedEvent) (*Event, error) {
	de, err := reg.Decode(re.Type, re.SchemaVersion, re.Data)
	if err != nil {
		return nil, fmt.Errorf("event %s (%s at %s v%d): %w", re.ID, re.Type, re.StreamID, re.StreamVersion, err)
	}
	return &Event{RecordedEvent: re, Payload: de}, nil
}

// All returns every projection, in the order they are started and reported.
func All() []*Projection {
	return []*Projection{workspacesProjection(), projectsProjection(), tasksProjection(), activityProjection(), notificationsProjection()}
}

// ByName returns the projections named, or an error naming the unknown one. "all" means all.
func ByName(names ...string) ([]*Projection, error) {
	all := All()
	if len(names) == 1 && names[0] == "all" {
		return all, nil
	}
	var out []*Projection
	for _, n := range names {
		found := false
		for _, p := range all {
			if p.Name == n {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown projection %q (known: %s)", n, strings.Join(Names(), ", "))
		}
	}
	return out, nil
}

// Names lists the projection names.
func Names() []string {
	var out []string
	for _, p := range All() {
		out = append(out, p.Name)
	}
	return out
}

// ddl returns a template with {v} replaced by version v's suffix.
func ddl(tmpl string, v int) string { return strings.ReplaceAll(tmpl, "{v}", suffix(v)) }

func suffix(v int) string { return "_v" + strconv.Itoa(v) }

// Writer collects the statements of one or more events for one projection version.
type Writer struct {
	version int
	cache   map[string]string
	stmts   []stmt
}

type stmt struct {
	sql  string
	args []any
}

func newWriter(version int) *Writer {
	return &Writer{version: version, cache: map[string]string{}}
}

// Exec queues a statement; {v} in sql stands for the version suffix of table names.
func (w *Writer) Exec(sql string, args ...any) {
	s, ok := w.cache[sql]
	if !ok {
		s = ddl(sql, w.version)
		w.cache[sql] = s
	}
	w.stmts = append(w.stmts, stmt{sql: s, args: args})
}

// Len is the number of statements queued.
func (w *Writer) Len() int { return len(w.stmts) }

func (w *Writer) reset() { w.stmts = w.stmts[:0] }

// queue adds the statements to b.
func (w *Writer) queue(b *pgx.Batch) {
	for _, s := range w.stmts {
		b.Queue(s.sql, s.args...)
	}
}
