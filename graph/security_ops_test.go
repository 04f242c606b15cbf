package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/internal/auth"
)

// TestOperatorsOnlySeeProjections: projections carries global positions and counts over every
// tenant. Owning a workspace (anyone can create one) is not enough: FORBIDDEN, no data. A subject
// configured as an operator (TASKFORGE_OPERATORS reaches Resolver.Operators) or a token with the
// operator role claim may read it, and its lastError carries the failure's class, never the
// values the handler's error quoted.
func TestOperatorsOnlySeeProjections(t *testing.T) {
	t.Parallel()
	opID := "ops-" + t.Name()
	a := setup(t, func(r *graph.Resolver) { r.Operators = []string{opID} })
	tm := newTeam(t, a, "OP")
	const q = `{ projections { name state position lagEvents lastError } }`

	for _, tok := range []string{tm.alice, tm.bob} { // owner, member
		r := a.do(tok, q, nil)
		require.Equal(t, "FORBIDDEN", code(t, r))
		require.Empty(t, r.Data["projections"]) // data is null
	}
	require.Equal(t, "UNAUTHENTICATED", code(t, a.do("", q, nil)))

	// A failure recorded as the projection runner does, quoting another tenant's data.
	_, err := a.es.Pool().Exec(context.Background(), `UPDATE projection_checkpoints SET last_error = $1
		WHERE name = (SELECT min(name) FROM projection_checkpoints)`,
		`event 0b0e5d0c-3c5a-4a55-9d8a-1c1f0e0e0e0e (task.created at position 42): insert task: ERROR: duplicate key value `+
			`violates unique constraint "tasks_pkey" Key (title)=(Acquire Globex secretly) (SQLSTATE 23505)`)
	require.NoError(t, err)

	var sts []struct {
		Name, State, Position string
		LastError             *string
	}
	claim, err := auth.MintHS256(secret, auth.Principal{UserID: "claim-" + t.Name(), Roles: []string{auth.RoleOperator}},
		time.Hour, time.Now(), "", "")
	require.NoError(t, err)
	for _, tok := range []string{token(t, opID, time.Hour), claim} {
		a.ok(tok, q, nil, &sts)
		require.NotEmpty(t, sts)
		var lastErrors []string
		for _, s := range sts {
			if s.LastError != nil {
				lastErrors = append(lastErrors, *s.LastError)
			}
		}
		require.Equal(t, []string{"task.created: projection handler failed (SQLSTATE 23505)"}, lastErrors)
	}
}
