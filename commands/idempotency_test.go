package commands_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
)

// TestIdempotencyKeyReusedWithOtherInput: a key that comes back with other input is refused
// (CONFLICT, ErrIdempotencyKeyReused) and appends nothing, before or after the first call
// committed; the same input still gets the first result.
func TestIdempotencyKeyReusedWithOtherInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.board()

	first, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "pay rent", IdempotencyKey: "k-reuse"})
	require.NoError(t, err)
	numbers := f.version(domain.TaskNumbersStream(b.project))
	_, err = f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: "pay bills", IdempotencyKey: "k-reuse"})
	require.ErrorIs(t, err, commands.ErrIdempotencyKeyReused)
	requireCode(t, err, domain.CodeConflict)
	require.Equal(t, numbers, f.version(domain.TaskNumbersStream(b.project)), "nothing appended")
	require.Equal(t, int64(1), f.version(domain.TaskStream(first.ID)))

	// The actor's token details are not input: a refreshed display name repeats the first call.
	renamed := member
	renamed.DisplayName = "Mia B."
	again, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: renamed, ProjectID: b.project, Title: "pay rent", IdempotencyKey: "k-reuse"})
	require.NoError(t, err)
	require.Equal(t, first, again)

	// Racing calls with one key and two inputs: one wins, every call of the other input is refused.
	const n = 10
	errs := make([]error, 2*n)
	parallel(2*n, func(i int) {
		title := []string{"left", "right"}[i%2]
		_, errs[i] = f.h.ChangeTaskStatus.Handle(f.ctx, commands.ChangeTaskStatus{Actor: member, TaskID: b.task,
			Status: map[string]string{"left": "in_progress", "right": "cancelled"}[title], IdempotencyKey: "k-race"})
	})
	var ok, refused [2]int
	for i, err := range errs {
		switch {
		case err == nil:
			ok[i%2]++
		case errors.Is(err, commands.ErrIdempotencyKeyReused):
			refused[i%2]++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	require.True(t, (ok[0] == n && refused[1] == n) || (ok[1] == n && refused[0] == n), "ok %v refused %v", ok, refused)
}
