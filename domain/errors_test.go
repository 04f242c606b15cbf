package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		code Code
		text string
	}{
		{InvalidInput("title", "must not be empty"), CodeInvalidInput, "INVALID_INPUT: title: must not be empty"},
		{Forbidden("no"), CodeForbidden, "FORBIDDEN: no"},
		{NotFound("gone"), CodeNotFound, "NOT_FOUND: gone"},
		{Conflict("taken"), CodeConflict, "CONFLICT: taken"},
		{PreconditionFailed("archived"), CodePreconditionFailed, "PRECONDITION_FAILED: archived"},
	} {
		if got := CodeOf(c.err); got != c.code {
			t.Errorf("CodeOf(%v) = %q", c.err, got)
		}
		if got := CodeOf(fmt.Errorf("handle command: %w", c.err)); got != c.code {
			t.Errorf("CodeOf(wrapped %v) = %q", c.err, got)
		}
		if c.err.Error() != c.text {
			t.Errorf("Error() = %q, want %q", c.err.Error(), c.text)
		}
	}
	if CodeOf(nil) != "" || CodeOf(errors.New("boom")) != "" {
		t.Fatal("non-domain errors have no code")
	}
	var de *Error
	if !errors.As(InvalidInput("key", "bad"), &de) || de.Field != "key" || de.Message != "bad" {
		t.Fatalf("fields: %+v", de)
	}
}
