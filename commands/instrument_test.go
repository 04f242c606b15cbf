package commands_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every handler is logged and measured by the one decorator: a duration
// histogram and an outcome counter per command.
func TestInstrument(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ws := f.team()
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	m, err := commands.NewMetrics(reg)
	require.NoError(t, err)
	h, err := commands.NewHandlers(f.rt, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), m)
	require.NoError(t, err)

	ctx := commands.WithRequest(context.Background(), commands.RequestInfo{RequestID: "req-7"})
	_, err = h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: admin, WorkspaceID: ws, Name: "Renamed"})
	require.NoError(t, err)
	_, err = h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: viewer, WorkspaceID: ws, Name: "Mine"})
	requireCode(t, err, domain.CodeForbidden)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.RenameWorkspace.Handle(cancelled, commands.RenameWorkspace{Actor: admin, WorkspaceID: ws, Name: "Late"})
	require.Error(t, err)

	families, err := reg.Gather()
	require.NoError(t, err)
	counts, observations := map[string]float64{}, uint64(0)
	for _, fam := range families {
		for _, metric := range fam.GetMetric() {
			labels := map[string]string{}
			for _, lp := range metric.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			require.Equal(t, "rename_workspace", labels["command"])
			switch fam.GetName() {
			case "taskforge_commands_total":
				counts[labels["outcome"]] = metric.GetCounter().GetValue()
			case "taskforge_command_duration_seconds":
				observations += metric.GetHistogram().GetSampleCount()
			}
		}
	}
	require.Equal(t, map[string]float64{"ok": 1, "forbidden": 1, "canceled": 1}, counts)
	require.Equal(t, uint64(3), observations)

	out := logs.String()
	for _, want := range []string{
		"level=DEBUG msg=\"command handled\" command=rename_workspace actor=adam outcome=ok",
		"level=INFO msg=\"command handled\" command=rename_workspace actor=vic outcome=forbidden",
		"outcome=canceled",
		"request_id=req-7",
	} {
		require.Contains(t, out, want)
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil:                                 "ok",
		domain.Forbidden("no"):              "forbidden",
		domain.InvalidInput("f", "bad"):     "invalid_input",
		&commands.ConflictError{Current: 3}: "conflict",
		fmt.Errorf("x: %w", commands.ErrContention):           "conflict",
		fmt.Errorf("x: %w", context.Canceled):                 "canceled",
		context.DeadlineExceeded:                              "canceled",
		errors.New("boom"):                                    "error",
		fmt.Errorf("append: %w", eventstore.ErrInvalidAppend): "error",
	} {
		require.Equal(t, want, commands.Outcome(err), "%v", err)
	}
	require.Equal(t, domain.CodeConflict, domain.CodeOf(&commands.ConflictError{Current: 3}))
	_, ok := commands.CurrentVersion(commands.ErrContention)
	require.False(t, ok, "exhausted retries carry no version to show")
}
