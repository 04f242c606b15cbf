package graph

import (
	"testing"
	"time"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// The parsers of what clients send back: consistency tokens, dead-letter cursors and the Time
// scalars (task cursors are projections' FuzzTaskCursor). Each refuses with
// INVALID_INPUT (never panics or fails otherwise), and what it accepts prints back to an
// equivalent value.

func FuzzConsistencyToken(f *testing.F) {
	for _, s := range []string{"1.2", "0.0", "18446744073709551615.9223372036854775807", "1.-1", "-1.1", ".", "1", "a.b", "1.2.3", "+1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseConsistencyToken(s)
		if err != nil {
			if domain.CodeOf(err) != domain.CodeInvalidInput {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if p.Position < 0 {
			t.Fatalf("%q: negative position %d", s, p.Position)
		}
		again, err := ParseConsistencyToken(p.String())
		if err != nil || again != p {
			t.Fatalf("%q → %v → %q → %v, %v", s, p, p.String(), again, err)
		}
		// A readable position is no cursor (cursors are opaque, internal/cursor).
		if _, err := projections.ParseNotificationCursor(s); err == nil {
			t.Fatalf("%q: a consistency token read as a notification cursor", s)
		}
	})
}

func FuzzDeadCursor(f *testing.F) {
	for _, s := range []string{"0:0", "12:7", "-1:0", "1:", ":", "9223372036854775807:1", "1:2:3", "d2ViaG9vay01"} {
		f.Add(s)
	}
	for _, id := range []sideeffects.DeadLetterID{{Kind: sideeffects.KindWebhook, Row: 5}, {Kind: sideeffects.KindEmail, Row: 1 << 40}} {
		f.Add(sideeffects.DeadLetter{ID: id}.Cursor())
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseDeadCursor(&s)
		if err != nil {
			if domain.CodeOf(err) != domain.CodeInvalidInput {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		printed := c.String()
		if again, err := parseDeadCursor(&printed); err != nil || again != c {
			t.Fatalf("%q → %v → %q → %v, %v", s, c, printed, again, err)
		}
	})
}

func FuzzTimeScalar(f *testing.F) {
	for _, s := range []string{"2026-12-24", "2026-12-24T09:30:00Z", "2026-12-24T09:30:00.5+01:00", "2026-13-45", "2026-02-30", "", "24/12/2026"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := model.UnmarshalTime(s)
		if err != nil && domain.CodeOf(err) != domain.CodeInvalidInput {
			t.Fatalf("Time %q: %v", s, err)
		}
		if err == nil {
			if _, err := time.Parse(time.DateOnly, s); err == nil {
				t.Fatalf("Time accepted a plain date %q", s)
			}
			_ = tm
		}
		due, derr := model.UnmarshalDueDate(s)
		if derr != nil && domain.CodeOf(derr) != domain.CodeInvalidInput {
			t.Fatalf("DueDate %q: %v", s, derr)
		}
		if err == nil && (derr != nil || !due.Equal(tm)) {
			t.Fatalf("%q: a valid Time is a valid due date: %v, %v", s, due, derr)
		}
	})
}
