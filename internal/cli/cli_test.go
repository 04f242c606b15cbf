package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "cli")) }

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	code, out, _ := runCLI("help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "taskforge serve")

	code, _, errOut := runCLI("frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown command "frobnicate"`)

	code, _, errOut = runCLI()
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "no command")

	code, _, errOut = runCLI("bench", "append", "--writers", "1,x")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--writers")

	t.Setenv("LOG_FORMAT", "xml")
	code, _, errOut = runCLI("migrate")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "LOG_FORMAT")
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t)) // migrated from the template already
	code, out, errOut := runCLI("migrate")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.Contains(out, "up to date"), out)
}
