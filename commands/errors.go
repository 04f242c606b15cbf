package commands

import (
	"errors"
	"fmt"

	"github.com/taskforge/taskforge/domain"
)

// ConflictError is returned when the caller gave an expected version and the
// aggregate is at another one: the user edited a version that is no longer
// current. Its code is CONFLICT (domain.CodeOf finds it), and Current is the
// version to show the user before they try again.
type ConflictError struct {
	Current int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: changed by someone else (current version %d)", domain.CodeConflict, e.Current)
}

// Unwrap exposes the CONFLICT domain error, so that the API maps a
// ConflictError like every other domain error (plus currentVersion).
func (e *ConflictError) Unwrap() error { return errStale }

var errStale = &domain.Error{Code: domain.CodeConflict, Message: "this was changed by someone else; reload and try again"}

// ErrContention is returned (wrapped) when a command without an expected
// version still conflicted after every retry. Its code is CONFLICT; the
// caller may try again later.
var ErrContention error = &domain.Error{Code: domain.CodeConflict, Message: "too many concurrent changes; try again"}

// errAlreadyExists is returned when a command creates an aggregate whose
// stream exists already (a caller-chosen id that is taken).
var errAlreadyExists = &domain.Error{Code: domain.CodeConflict, Message: "this id is already used"}

// checkExpected refuses a decision on an aggregate that is not at the
// version the caller saw.
func checkExpected(expected *int64, current int64) error {
	if expected != nil && *expected != current {
		return &ConflictError{Current: current}
	}
	return nil
}

// CurrentVersion returns the current version carried by a ConflictError in
// err's chain.
func CurrentVersion(err error) (int64, bool) {
	var ce *ConflictError
	if errors.As(err, &ce) {
		return ce.Current, true
	}
	return 0, false
}

// ErrIdempotencyKeyReused is returned when an idempotency key comes back with
// other input than the call that first used it: answering with the first
// call's result would tell the client its different change was made. Its
// code is CONFLICT.
var ErrIdempotencyKeyReused error = &domain.Error{Code: domain.CodeConflict,
	Message: "this idempotency key was already used with different input"}

// DetailIdempotencyKeyReused is the API's detail for ErrIdempotencyKeyReused.
const DetailIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
