package projections_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/projections"
)

// FuzzTaskCursor: a client's task cursor parses or is refused with ErrBadCursor (never panics);
// what parses is exactly what String prints, and the cursor the server prints for a task parses
// back to that task's place.
func FuzzTaskCursor(f *testing.F) {
	at := time.Date(2026, 12, 24, 9, 30, 0, 123, time.UTC)
	// What the server prints, and what it printed before cursors were opaque (refused now).
	task := projections.Task{ID: uuid.MustParse("0195f0a2-6c1e-7d3a-9b1c-3e5f7a9b1c3d"), Number: 12, UpdatedAt: at, MatchRank: 0.0607927}
	for _, order := range []string{projections.OrderNumber, projections.OrderUpdated, projections.OrderRelevance} {
		f.Add(order, projections.CursorOf(order, task).String())
		f.Add(projections.OrderUpdated, projections.CursorOf(order, task).String()) // another order's
	}
	f.Add(projections.OrderNumber, "12")
	f.Add(projections.OrderNumber, "-1")
	f.Add(projections.OrderNumber, "+12")
	f.Add(projections.OrderNumber, "012")
	f.Add(projections.OrderUpdated, base64.RawURLEncoding.EncodeToString([]byte(at.Format(time.RFC3339Nano)+"|"+uuid.Nil.String())))
	f.Add(projections.OrderUpdated, "not base64!")
	f.Add("", "fA")
	for _, rank := range []string{"0.0607927", "0", "-0", "1e+10", "NaN", "0.06079270"} {
		f.Add(projections.OrderRelevance, base64.RawURLEncoding.EncodeToString([]byte(rank+"|"+at.Format(time.RFC3339Nano)+"|"+uuid.Nil.String())))
	}
	f.Fuzz(func(t *testing.T, order, s string) {
		c, err := projections.ParseTaskCursor(order, s)
		if err != nil {
			if !errors.Is(err, projections.ErrBadCursor) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("%q → %+v prints %q: a second spelling", s, c, c.String())
		}
		if order == projections.OrderNumber {
			if c.Number < 0 {
				t.Fatalf("%q: negative number", s)
			}
			return
		}
		if y := c.UpdatedAt.Year(); y < 1 || y > 9999 || c.UpdatedAt.Location() != time.UTC {
			t.Fatalf("%q: instant %v out of range", s, c.UpdatedAt)
		}
		task := projections.Task{ID: c.ID, UpdatedAt: c.UpdatedAt.In(time.FixedZone("x", 3600))}
		printed := projections.CursorOf(order, task).String()
		again, err := projections.ParseTaskCursor(order, printed)
		if err != nil || !again.UpdatedAt.Equal(c.UpdatedAt) || again.ID != c.ID {
			t.Fatalf("printed cursor %q: %+v, %v", printed, again, err)
		}
	})
}
