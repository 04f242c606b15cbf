package graph_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One failing mutation field does not null its siblings: every Mutation field is nullable, so the
// error stays at its own path and the successful field's payload reaches the client.
func TestFailingMutationKeepsSiblings(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	r := a.do(alice, `mutation {
		bad: renameWorkspace(input: {workspaceId: "6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", name: "x"}) { id }
		good: createWorkspace(input: {name: "Acme"}) { id }
	}`, nil)
	require.Len(t, r.Errors, 1)
	require.Equal(t, "NOT_FOUND", r.Errors[0].Extensions["code"])
	require.Equal(t, []any{"bad"}, r.Errors[0].Path)
	require.JSONEq(t, `null`, string(r.Data["bad"]))
	var ws result
	require.NoError(t, json.Unmarshal(r.Data["good"], &ws))
	require.NotEmpty(t, ws.ID)
}

// registerUser is a login-time upsert: a client calls it at every sign-in, with other mutations
// in the same document, and gets the user back; nothing is recorded when nothing changed.
func TestRegisterUserAgain(t *testing.T) {
	t.Parallel()
	a := setup(t)
	alice := token(t, "alice-"+t.Name(), time.Hour)
	const doc = `mutation { registerUser { id version } createWorkspace(input: {name: "Acme"}) { id } }`
	var first, again result
	for _, out := range []*result{&first, &again} {
		r := a.do(alice, doc, nil)
		require.Empty(t, r.Errors)
		require.NoError(t, json.Unmarshal(r.Data["registerUser"], out))
		require.NotEqual(t, "null", string(r.Data["createWorkspace"]))
	}
	require.Equal(t, first, again)
	require.Equal(t, int64(1), again.Version, "no second event for an unchanged profile")
}

// requireNoData: the response carries no data: none at all, or null for every field (a nullable
// mutation that failed).
func requireNoData(t *testing.T, r response, msg string) {
	t.Helper()
	for name, v := range r.Data {
		require.JSONEq(t, `null`, string(v), "%s: %s", msg, name)
	}
}
