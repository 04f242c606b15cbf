package domain

import (
	"errors"
	"fmt"
)

// Code is the machine-readable kind of a domain error. The API layer maps it
// (for example to a GraphQL extensions.code); it never parses Message.
type Code string

const (
	CodeInvalidInput       Code = "INVALID_INPUT"
	CodeForbidden          Code = "FORBIDDEN"
	CodeNotFound           Code = "NOT_FOUND"
	CodeConflict           Code = "CONFLICT"
	CodePreconditionFailed Code = "PRECONDITION_FAILED"
	// CodeInvitationExpired: the invitation outlived InvitationTTL; an admin invites again.
	CodeInvitationExpired Code = "INVITATION_EXPIRED"
	// CodeIntegrityViolation: stored history does not verify against its
	// hash chain (edited outside the application); it is not served as if
	// it were true.
	CodeIntegrityViolation Code = "INTEGRITY_VIOLATION"
)

// Error is a rejected command. Message (and Field, when set) are written for
// API clients: they never contain internal details.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input (snake_case, e.g. "title" or
	// "statuses[1].id") for INVALID_INPUT errors.
	Field string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Constructors return error (not *Error) so that a nil *Error can never be
// returned as a non-nil error interface by accident.

func InvalidInput(field, msg string) error {
	return &Error{Code: CodeInvalidInput, Field: field, Message: msg}
}

func Forbidden(msg string) error { return &Error{Code: CodeForbidden, Message: msg} }

func NotFound(msg string) error { return &Error{Code: CodeNotFound, Message: msg} }

func Conflict(msg string) error { return &Error{Code: CodeConflict, Message: msg} }

func PreconditionFailed(msg string) error {
	return &Error{Code: CodePreconditionFailed, Message: msg}
}

// CodeOf returns the code of the first domain error in err's chain, or ""
// when err is nil or not a domain error (an internal failure).
func CodeOf(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}
