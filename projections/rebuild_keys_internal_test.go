package projections

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSplitQueryIndexes: the index phase runs each projection's query-index script statement by
// statement; splitting must keep every statement whole and drop nothing.
func TestSplitQueryIndexes(t *testing.T) {
	t.Parallel()
	for _, p := range All() {
		script := ddl(p.QueryIndexes, 2)
		stmts := splitStatements(script)
		require.Len(t, stmts, strings.Count(script, "CREATE "), p.Name)
		for _, s := range stmts {
			require.True(t, strings.HasPrefix(strings.TrimSpace(s), "CREATE "), "%s: %q", p.Name, s)
			require.NotContains(t, s, "--", p.Name)
		}
	}
}
