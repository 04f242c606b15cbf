package projections

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/internal/cursor"
)

// ErrBadCursor is returned for a cursor that its list did not print (another list's, a
// malformed one).
var ErrBadCursor = errors.New("projections: bad cursor")

// TaskCursor is a task's place in a task list: its number in the project (OrderNumber), its
// last update and id (OrderUpdated, newest first), or its match rank, last update and id
// (OrderRelevance, best match first). It is the one format of task cursors: ListTasks' Next, each
// edge's cursor in the API, and what a client sends back as after.
type TaskCursor struct {
	Order     string // OrderNumber, OrderRelevance or OrderUpdated (anything else reads as OrderUpdated)
	Number    int64
	Rank      float32
	UpdatedAt time.Time
	ID        uuid.UUID
}

// CursorOf is t's cursor in a list ordered by order.
func CursorOf(order string, t Task) TaskCursor {
	switch order {
	case OrderNumber:
		return TaskCursor{Order: OrderNumber, Number: t.Number}
	case OrderRelevance:
		return TaskCursor{Order: OrderRelevance, Rank: t.MatchRank, UpdatedAt: t.UpdatedAt.UTC(), ID: t.ID}
	}
	return TaskCursor{Order: OrderUpdated, UpdatedAt: t.UpdatedAt.UTC(), ID: t.ID}
}

// String prints the cursor, opaque (internal/cursor): the number; or, after the rank when
// ordered by relevance, the instant and the id. Each order is a kind of its own: a cursor of one
// order is refused by another.
func (c TaskCursor) String() string {
	switch c.Order {
	case OrderNumber:
		return cursor.New(cursor.TaskNumber).Int64(c.Number).Encode()
	case OrderRelevance:
		return cursor.New(cursor.TaskRelevance).Float32(c.Rank).Time(c.UpdatedAt).UUID(c.ID).Encode()
	}
	return cursor.New(cursor.TaskUpdated).Time(c.UpdatedAt).UUID(c.ID).Encode()
}

// ParseTaskCursor reads a cursor of a list ordered by order, and only what String prints for it:
// a non-negative number; an instant in UTC within years 1..9999 and an id; for relevance a
// finite, non-negative rank before them. Each cursor has one spelling.
func ParseTaskCursor(order, s string) (TaskCursor, error) {
	c, ok := parseTaskCursor(order, s)
	if !ok || c.String() != s {
		return TaskCursor{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	return c, nil
}

func parseTaskCursor(order, s string) (TaskCursor, bool) {
	switch order {
	case OrderNumber:
		r, ok := cursor.Open(s, cursor.TaskNumber)
		if !ok {
			return TaskCursor{}, false
		}
		c := TaskCursor{Order: OrderNumber, Number: r.Int64()}
		return c, r.Done() && c.Number >= 0
	case OrderRelevance:
		r, ok := cursor.Open(s, cursor.TaskRelevance)
		if !ok {
			return TaskCursor{}, false
		}
		c := TaskCursor{Order: OrderRelevance, Rank: r.Float32(), UpdatedAt: r.Time(), ID: r.UUID()}
		return c, r.Done() && !math.Signbit(float64(c.Rank))
	}
	r, ok := cursor.Open(s, cursor.TaskUpdated)
	if !ok {
		return TaskCursor{}, false
	}
	c := TaskCursor{Order: OrderUpdated, UpdatedAt: r.Time(), ID: r.UUID()}
	return c, r.Done()
}
