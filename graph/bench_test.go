package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
)

// BenchmarkBoardRead serves the board of bench read (200 tasks, each with its assignee) through
// the API's handler in process, with no HTTP client and no response decoding, so that the Go CPU
// it reports (cpu-µs/op: the process's user and system time) is the server's per cache miss
// (the response cache is off). Profile it with -cpuprofile.
//
//	go test -run '^$' -bench BoardRead -benchtime 2000x ./graph/
func BenchmarkBoardRead(b *testing.B) {
	s := apptest.New(b, apptest.Options{Overrides: overrides(live.HubOptions{}, nil)})
	ctx := context.Background()
	user := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	alice := domain.Actor{UserID: domain.UserID(user), Email: user + "@example.com", EmailVerified: true, DisplayName: "Alice"}
	h := s.Commands()
	ws, err := h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: alice, Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	p, err := h.CreateProject.Handle(ctx, commands.CreateProject{Actor: alice, WorkspaceID: ws.ID, Name: "Board", Key: "BB"})
	if err != nil {
		b.Fatal(err)
	}
	var last commands.Result
	for i := range 200 {
		r, err := h.CreateTask.Handle(ctx, commands.CreateTask{Actor: alice, ProjectID: p.ID, Title: "task " + strconv.Itoa(i),
			Labels: []string{"bench"}, Assignee: alice.UserID})
		if err != nil {
			b.Fatal(err)
		}
		last = r.Result
	}
	tok := apptest.Token(b, user, time.Hour)
	if r := s.Do(tok, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { key } }`,
		map[string]any{"p": p.ID.String(), "tok": graph.ConsistencyToken(last)}); len(r.Errors) > 0 {
		b.Fatal(r.Errors)
	}
	body, err := json.Marshal(map[string]any{"query": `query($p: ID!) { project(id: $p) { key name openCount overdueCount
	board { status name tasks { key title priority labels dueDate commentCount
		assignee { displayName role } } } } }`, "variables": map[string]any{"p": p.ID.String()}})
	if err != nil {
		b.Fatal(err)
	}
	handler := s.Handler()
	serve := func() {
		if out := serveRaw(b, handler, tok, body, nil); bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatal(string(out))
		}
	}
	serve()
	before := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
