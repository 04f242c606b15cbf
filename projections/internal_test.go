package projections

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// pgFormat must render what PostgreSQL's format() renders for the directives lines use, and
// refuse any other directive rather than render it differently.
func TestPGFormat(t *testing.T) {
	t.Parallel()
	got, err := pgFormat(`%1$s moved %2$s from %4$s to %5$s (100%%)`, "Olga", "TF-1 “x”", "", "todo", "done")
	require.NoError(t, err)
	require.Equal(t, "Olga moved TF-1 “x” from todo to done (100%)", got)
	got, err = pgFormat(`%3$s joined as %5$s`, "a", "b", "Mia", "", "member")
	require.NoError(t, err)
	require.Equal(t, "Mia joined as member", got)
	for _, bad := range []string{`%s`, `%1$d`, `%6$s`, `%0$s`, `50%`, `%1$`} {
		_, err := pgFormat(bad, "a", "b", "c", "d", "e")
		require.Error(t, err, bad)
	}
}
