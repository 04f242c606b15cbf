package projections

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrBadCursor is returned for a task cursor that String did not print.
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

// String prints the cursor: the number in decimal ("12"), or the base64url (unpadded) of
// "<updated_at RFC 3339, nanoseconds, UTC>|<id>", preceded by "<rank>|" when ordered by relevance
// (the shortest decimal that reads back as the same float32).
func (c TaskCursor) String() string {
	switch c.Order {
	case OrderNumber:
		return strconv.FormatInt(c.Number, 10)
	case OrderRelevance:
		return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatFloat(float64(c.Rank), 'g', -1, 32) + "|" +
			c.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
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
	if order == OrderNumber {
		n, err := strconv.ParseInt(s, 10, 64)
		return TaskCursor{Order: OrderNumber, Number: n}, err == nil && n >= 0
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return TaskCursor{}, false
	}
	rest, c := string(raw), TaskCursor{Order: OrderUpdated}
	if order == OrderRelevance {
		rank, after, ok := strings.Cut(rest, "|")
		r, err := strconv.ParseFloat(rank, 32)
		if !ok || err != nil || math.IsNaN(r) || math.IsInf(r, 0) || math.Signbit(r) {
			return TaskCursor{}, false
		}
		rest, c = after, TaskCursor{Order: OrderRelevance, Rank: float32(r)}
	}
	at, idText, ok := strings.Cut(rest, "|")
	if !ok {
		return TaskCursor{}, false
	}
	t, err1 := time.Parse(time.RFC3339Nano, at)
	id, err2 := uuid.Parse(idText)
	c.UpdatedAt, c.ID = t.UTC(), id
	y := c.UpdatedAt.Year()
	return c, err1 == nil && err2 == nil && y >= 1 && y <= 9999
}
