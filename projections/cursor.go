package projections

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrBadCursor is returned for a task cursor that String did not print.
var ErrBadCursor = errors.New("projections: bad cursor")

// TaskCursor is a task's place in a task list: its number in the project when the list is
// ordered by OrderNumber, otherwise its last update and id (OrderUpdated, newest first). It is the
// one format of task cursors: ListTasks' Next, each edge's cursor in the API, and what a client
// sends back as after.
type TaskCursor struct {
	Order     string // OrderNumber, or OrderUpdated ("" reads as OrderUpdated)
	Number    int64
	UpdatedAt time.Time
	ID        uuid.UUID
}

// CursorOf is t's cursor in a list ordered by order.
func CursorOf(order string, t Task) TaskCursor {
	if order == OrderNumber {
		return TaskCursor{Order: OrderNumber, Number: t.Number}
	}
	return TaskCursor{Order: OrderUpdated, UpdatedAt: t.UpdatedAt.UTC(), ID: t.ID}
}

// String prints the cursor: the number in decimal ("12"), or the base64url (unpadded) of
// "<updated_at RFC 3339, nanoseconds, UTC>|<id>".
func (c TaskCursor) String() string {
	if c.Order == OrderNumber {
		return strconv.FormatInt(c.Number, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
}

// ParseTaskCursor reads a cursor of a list ordered by order, and only what String prints for it:
// a non-negative number, or an instant in UTC within years 1..9999 and an id; each cursor has
// one spelling.
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
	at, idText, ok := strings.Cut(string(raw), "|")
	if !ok {
		return TaskCursor{}, false
	}
	t, err1 := time.Parse(time.RFC3339Nano, at)
	id, err2 := uuid.Parse(idText)
	y := t.UTC().Year()
	return TaskCursor{Order: OrderUpdated, UpdatedAt: t.UTC(), ID: id}, err1 == nil && err2 == nil && y >= 1 && y <= 9999
}
