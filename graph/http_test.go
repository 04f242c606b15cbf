package graph_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
)

// TestStandardIntrospection: graphql-js's getIntrospectionQuery({inputValueDeprecation: true}),
// verbatim (testdata), is served whatever the depth limit (its 13 levels are measured apart),
// while data queries keep the limit.
func TestStandardIntrospection(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxDepth = 2 })
	tok := token(t, "introspect-"+t.Name(), time.Hour)
	q, err := os.ReadFile("testdata/introspection.graphql")
	require.NoError(t, err)
	r := a.do(tok, string(q), nil)
	require.Empty(t, r.Errors)
	require.Contains(t, string(r.Data["__schema"]), `"queryType":{"name":"Query"}`)
	// Without a token too: the schema is no secret when introspection is on.
	r = a.do("", string(q), nil)
	require.Empty(t, r.Errors)

	r = a.do(tok, `{ workspaces { projects { id } } }`, nil)
	require.Equal(t, "DEPTH_LIMIT_EXCEEDED", code(t, r))
}
