package model

import (
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/taskforge/taskforge/domain"
)

// The Time and DueDate scalars. A malformed value is the client's INVALID_INPUT, never an
// internal error; the presenter names the field from the error's path (input.dueDate). The
// value itself is never echoed.

// MarshalTime writes an instant in RFC 3339.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads an RFC 3339 instant with a time zone.
func UnmarshalTime(v any) (time.Time, error) {
	if s, ok := v.(string); ok {
		if t, err := ParseTime(s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, domain.InvalidInput("", "must be an RFC 3339 time, e.g. 2026-12-24T09:00:00Z")
}

// ParseTime is UnmarshalTime's rule for a string.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// MarshalDueDate writes a due date like a Time.
func MarshalDueDate(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalDueDate reads a plain date (2026-12-24, midnight UTC) or an RFC 3339 instant.
func UnmarshalDueDate(v any) (time.Time, error) {
	if s, ok := v.(string); ok {
		if t, err := ParseDueDate(s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, domain.InvalidInput("", "must be a date (2026-12-24) or an RFC 3339 time")
}

// ParseDueDate is UnmarshalDueDate's rule for a string.
func ParseDueDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return ParseTime(s)
}
