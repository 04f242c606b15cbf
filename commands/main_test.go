package commands_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/promtest"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "commands")) }

var (
	owner    = domain.Actor{UserID: "olga", Email: "olga@example.com", EmailVerified: true, DisplayName: "Olga"}
	admin    = domain.Actor{UserID: "adam", Email: "adam@example.com", EmailVerified: true, DisplayName: "Adam"}
	member   = domain.Actor{UserID: "mia", Email: "mia@example.com", EmailVerified: true, DisplayName: "Mia"}
	member2  = domain.Actor{UserID: "max", Email: "max@example.com", EmailVerified: true, DisplayName: "Max"}
	viewer   = domain.Actor{UserID: "vic", Email: "vic@example.com", EmailVerified: true, DisplayName: "Vic"}
	outsider = domain.Actor{UserID: "sam", Email: "sam@example.com", EmailVerified: true, DisplayName: "Sam"}
)

// fixture is a store, a runtime and the instrumented handlers on the
// package database. Tests isolate themselves with fresh workspaces.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   *eventstore.Store
	rt      *commands.Runtime
	h       *commands.Handlers
	metrics *prometheus.Registry
	reg     *domain.Registry
}

// testSecretKey encrypts the tests' webhook secrets.
var testSecretKey = bytes.Repeat([]byte{7}, webhooksecrets.KeySize)

func setup(t *testing.T, opts ...func(*commands.Options)) *fixture {
	t.Helper()
	store, err := eventstore.New(pgtest.Pool(t), eventstore.Options{Upcasters: commands.Upcasters()})
	require.NoError(t, err)
	promReg := prometheus.NewRegistry()
	m, err := commands.NewMetrics(promReg)
	require.NoError(t, err)
	secrets, err := webhooksecrets.New(pgtest.Pool(t), testSecretKey)
	require.NoError(t, err)
	o := commands.Options{Metrics: m, WebhookSecrets: secrets}
	for _, f := range opts {
		f(&o)
	}
	reg := domain.NewRegistry()
	rt, err := commands.NewRuntime(store, reg, o)
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	require.NoError(t, err)
	return &fixture{t: t, ctx: context.Background(), store: store, rt: rt, h: h, metrics: promReg, reg: reg}
}

// board is a workspace with one member of each role (and a second member),
// a project TF and its task TF-1.
type board struct {
	ws, project, task uuid.UUID
}

func (f *fixture) team() uuid.UUID {
	f.t.Helper()
	res, err := f.h.CreateWorkspace.Handle(f.ctx, commands.CreateWorkspace{Actor: owner, Name: "Acme"})
	require.NoError(f.t, err)
	for _, c := range []struct {
		a    domain.Actor
		role domain.Role
	}{{admin, domain.RoleAdmin}, {member, domain.RoleMember}, {member2, domain.RoleMember}, {viewer, domain.RoleViewer}} {
		f.join(res.ID, c.a, c.role)
	}
	return res.ID
}

func (f *fixture) join(ws uuid.UUID, a domain.Actor, role domain.Role) {
	f.t.Helper()
	inv, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws, Email: a.Email, Role: role})
	require.NoError(f.t, err)
	_, err = f.h.AcceptInvitation.Handle(f.ctx, commands.AcceptInvitation{Actor: a, WorkspaceID: ws, InvitationID: inv.InvitationID})
	require.NoError(f.t, err)
}

func (f *fixture) board() board {
	f.t.Helper()
	ws := f.team()
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws, Name: "Taskforge", Key: "TF"})
	require.NoError(f.t, err)
	return board{ws: ws, project: p.ID, task: f.newTask(p.ID, "First task").ID}
}

func (f *fixture) newTask(project uuid.UUID, title string) commands.TaskResult {
	f.t.Helper()
	res, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: project, Title: title})
	require.NoError(f.t, err)
	return res
}

// version is a stream's version, 0 when it does not exist.
func (f *fixture) version(stream string) int64 {
	f.t.Helper()
	v, err := f.store.StreamVersion(f.ctx, stream)
	if errors.Is(err, eventstore.ErrNotFound) {
		return 0
	}
	require.NoError(f.t, err)
	return v
}

func (f *fixture) recorded(stream string) []eventstore.RecordedEvent {
	f.t.Helper()
	rs, err := f.store.ReadStream(f.ctx, stream, 1, 0)
	require.NoError(f.t, err)
	return rs
}

func (f *fixture) events(stream string) []domain.Event {
	f.t.Helper()
	var out []domain.Event
	for _, r := range f.recorded(stream) {
		e, err := f.reg.Decode(r.Type, r.SchemaVersion, r.Data)
		require.NoError(f.t, err)
		out = append(out, e)
	}
	return out
}

func (f *fixture) loadTask(id uuid.UUID) *domain.Task {
	f.t.Helper()
	t, err := domain.LoadTask(f.events(domain.TaskStream(id)))
	require.NoError(f.t, err)
	return t
}

func (f *fixture) loadWorkspace(id uuid.UUID) *domain.Workspace {
	f.t.Helper()
	w, err := domain.LoadWorkspace(f.events(domain.WorkspaceStream(id)))
	require.NoError(f.t, err)
	return w
}

// versions snapshots the versions of streams, to prove nothing was appended.
func (f *fixture) versions(streams ...string) map[string]int64 {
	f.t.Helper()
	out := make(map[string]int64, len(streams))
	for _, s := range streams {
		out[s] = f.version(s)
	}
	return out
}

// counter returns the value of a counter of the fixture's metrics.
func (f *fixture) counter(name string, labels map[string]string) float64 {
	f.t.Helper()
	return promtest.CounterSum(f.t, f.metrics, name, labels)
}

func requireCode(t *testing.T, err error, code domain.Code) {
	t.Helper()
	require.Error(t, err)
	require.Equalf(t, code, domain.CodeOf(err), "error %v", err)
}

// parallel runs fn(0..n-1) concurrently, released together, and returns
// how long it took.
func parallel(n int, fn func(i int)) time.Duration {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	return time.Since(began)
}

func ptr[T any](v T) *T { return &v }

func title(i int) string { return fmt.Sprintf("title %02d", i) }
