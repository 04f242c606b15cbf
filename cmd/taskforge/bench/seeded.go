package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/internal/database"
	"github.com/taskforge/taskforge/projections"
)

// benchDatabase is the database a benchmark runs on: a new scratch database, or, when seeded
// names a database made by `bench seed --database-name` (the large shape), a scratch copy of it,
// so that every run starts from the same seeded state and the seed is never written to. Either
// is dropped by the returned function.
func benchDatabase(ctx context.Context, url string, maxConns int32, seeded string) (*pgxpool.Pool, func(), error) {
	if seeded == "" {
		return scratch(ctx, url, maxConns)
	}
	admin, err := adminURL(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	if err := upgradeSeeded(ctx, url, seeded); err != nil {
		return nil, nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "taskforge_bench_seeded_" + hex.EncodeToString(b)
	if err := copyDatabase(ctx, admin, name, seeded); err != nil {
		return nil, nil, err
	}
	pool, drop, err := openDropping(ctx, url, admin, name, maxConns)
	if err != nil {
		return nil, nil, err
	}
	return pool, func() { pool.Close(); drop() }, nil
}

// upgradeSeeded brings the seeded database up to this build's schema once, rather than every copy
// again: its pending migrations and its read tables' missing query indexes (minutes of index
// builds on a million tasks otherwise repeated by each run).
func upgradeSeeded(ctx context.Context, url, seeded string) error {
	seedURL, err := database.WithDatabaseName(url, seeded)
	if err != nil {
		return err
	}
	pool, err := database.Open(ctx, seedURL, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("seeded database %s: %w", seeded, err)
	}
	defer pool.Close()
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'events' AND relkind = 'r'`).Scan(&tables); err != nil {
		return err
	}
	if tables == 0 {
		return fmt.Errorf("%s is not a seeded database (taskforge bench seed --database-name %s)", seeded, seeded)
	}
	if _, err := database.Migrate(ctx, pool, nil); err != nil {
		return err
	}
	if err := projections.Ensure(ctx, pool, projections.All()); err != nil {
		return err
	}
	// Vacuumed and analyzed as autovacuum keeps a production database (the rebuild that built the
	// read tables only analyzed them): index-only scans need the visibility map. Quick once done.
	_, err = pool.Exec(ctx, `VACUUM (ANALYZE)`)
	return err
}

// copyDatabase creates name as a copy of template by copying its files (STRATEGY FILE_COPY,
// PostgreSQL 15): the default of 15, WAL_LOG, writes gigabytes of a seeded database to the WAL.
// Older servers only copy files, without the option.
func copyDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	var version int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return err
	}
	if version >= 150000 {
		sql += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		if strings.Contains(err.Error(), "being accessed by other users") {
			return fmt.Errorf("copy %s: %w (close its other sessions)", template, err)
		}
		return fmt.Errorf("copy %s: %w", template, err)
	}
	return nil
}

// readSubjects are what `bench read` reads, and as whom.
type readSubjects struct {
	board, list, five string // project of the board; workspace of the task list; the 5-projects workspace
	boardTask         string // a task on the board, which the cache benchmark changes
	// owner reads the board and the list, fiveOwner the workspace of five projects
	owner, fiveOwner *gqlClient
}

// seededReadSubjects picks the read benchmark's subjects from a seeded database (largeShape): the
// board of open tasks of the huge workspace (P2, 5,000 tasks: the board reads 200 of them), the
// huge workspace's task list (200,000 tasks), and a typical small workspace of 5 projects with
// the number of tasks nearest 50; each read by a member of its workspace.
func seededReadSubjects(ctx context.Context, pool *pgxpool.Pool, env *apiEnv) (readSubjects, error) {
	var s readSubjects
	var huge, owner, fiveOwner string
	if err := pool.QueryRow(ctx, `SELECT w.id::text, p.id::text,
			(SELECT user_id FROM rm_members m WHERE m.workspace_id = w.id ORDER BY joined_at, user_id LIMIT 1)
		FROM rm_workspaces w JOIN rm_projects p ON p.workspace_id = w.id AND p.key = 'P2'
		ORDER BY w.member_count DESC, w.id LIMIT 1`).Scan(&huge, &s.board, &owner); err != nil {
		return s, fmt.Errorf("seeded database: the huge workspace's board: %w", err)
	}
	// served by rm_tasks' board_idx
	if err := pool.QueryRow(ctx, `SELECT id::text FROM rm_tasks WHERE workspace_id = $1 AND project_id = $2 AND NOT archived
		ORDER BY rank, id LIMIT 1`, huge, s.board).Scan(&s.boardTask); err != nil {
		return s, fmt.Errorf("seeded database: a task of the board: %w", err)
	}
	s.list = huge
	if err := pool.QueryRow(ctx, `SELECT p.workspace_id::text,
			(SELECT user_id FROM rm_members m WHERE m.workspace_id = p.workspace_id ORDER BY joined_at, user_id LIMIT 1)
		FROM rm_projects p GROUP BY p.workspace_id HAVING count(*) = 5
		ORDER BY abs((SELECT count(*) FROM rm_tasks t WHERE t.workspace_id = p.workspace_id) - 50), p.workspace_id
		LIMIT 1`).Scan(&s.five, &fiveOwner); err != nil {
		return s, fmt.Errorf("seeded database: a workspace of 5 projects: %w", err)
	}
	var err error
	if s.owner, err = env.as(owner); err != nil {
		return s, err
	}
	s.fiveOwner, err = env.as(fiveOwner)
	return s, err
}

// as is a client of the API acting as user.
func (e *apiEnv) as(user string) (*gqlClient, error) {
	tok, err := e.mint(user)
	if err != nil {
		return nil, err
	}
	c := *e.client
	c.tok = tok
	return &c, nil
}

// readSubjectsFor creates the read benchmark's subjects on a fresh database (a board of o.Tasks
// tasks in a workspace of readMembers members, each task assigned to the next member, and a
// workspace of 5 projects of 10 tasks), or picks them from a seeded one (o.Seeded).
func readSubjectsFor(ctx context.Context, o ReadOptions, pool *pgxpool.Pool, env *apiEnv) (readSubjects, error) {
	if o.Seeded != "" {
		return seededReadSubjects(ctx, pool, env)
	}
	c := env.client
	var ws, p struct{ ID, ConsistencyToken string }
	if err := c.do(ctx, `mutation { registerUser { id } }`, nil, &struct{}{}); err != nil {
		return readSubjects{}, err
	}
	members, err := benchTeam(ctx, env.commands, readMembers)
	if err != nil {
		return readSubjects{}, err
	}
	ws.ID = members.workspace.String()
	if err := c.do(ctx, `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "Bench", key: "BE"}) { id consistencyToken } }`,
		map[string]any{"ws": ws.ID}, &p); err != nil {
		return readSubjects{}, err
	}
	priorities := []string{"NONE", "LOW", "MEDIUM", "HIGH", "URGENT"}
	var firstTask string
	for i := range o.Tasks {
		var t struct{ ID, ConsistencyToken string }
		vars := map[string]any{"p": p.ID, "title": fmt.Sprintf("Task %d", i), "pr": priorities[i%len(priorities)],
			"a": string(members.users[i%len(members.users)])}
		q := `mutation($p: ID!, $title: String!, $pr: Priority, $a: ID) { createTask(input: {projectId: $p, title: $title, priority: $pr,
			labels: ["bench"], assigneeId: $a}) { id consistencyToken } }`
		if err := c.do(ctx, q, vars, &t); err != nil {
			return readSubjects{}, err
		}
		p.ConsistencyToken = t.ConsistencyToken
		if i == 0 {
			firstTask = t.ID
		}
	}
	// A second workspace: 5 projects of 10 tasks.
	var ws5 struct{ ID string }
	if err := c.do(ctx, `mutation { createWorkspace(input: {name: "Five by ten"}) { id } }`, nil, &ws5); err != nil {
		return readSubjects{}, err
	}
	for i := range 5 {
		var p5 struct{ ID string }
		if err := c.do(ctx, `mutation($ws: ID!, $name: String!, $key: String!) { createProject(input: {workspaceId: $ws, name: $name, key: $key}) { id } }`,
			map[string]any{"ws": ws5.ID, "name": fmt.Sprintf("Project %d", i), "key": fmt.Sprintf("P%c", 'A'+i)}, &p5); err != nil {
			return readSubjects{}, err
		}
		for k := range 10 {
			var t struct{ ConsistencyToken string }
			if err := c.do(ctx, `mutation($p: ID!, $title: String!, $pr: Priority) { createTask(input: {projectId: $p, title: $title,
				priority: $pr, labels: ["bench"], assigneeId: "bench-owner"}) { consistencyToken } }`,
				map[string]any{"p": p5.ID, "title": fmt.Sprintf("Task %d", k), "pr": priorities[k%len(priorities)]}, &t); err != nil {
				return readSubjects{}, err
			}
			p.ConsistencyToken = t.ConsistencyToken // sequential: the latest is the furthest
		}
	}
	// Wait for the read models to hold every task.
	if err := c.do(ctx, `query($p: ID!, $tok: String) { project(id: $p, consistentWith: $tok) { id } }`,
		map[string]any{"p": p.ID, "tok": p.ConsistencyToken}, &struct{}{}); err != nil {
		return readSubjects{}, err
	}

	return readSubjects{board: p.ID, boardTask: firstTask, list: ws.ID, five: ws5.ID, owner: c, fiveOwner: c}, nil
}

// readMembers is the membership of the small database's board and list workspace. The seeded
// database's huge workspace has 2,000 members: its board of 200 tasks shows about 160 distinct
// assignees and its task list page of 50 about 40. With every task assigned round-robin to one of
// 160 members, the small board and list have the same shape, so that the two databases' figures
// differ by their size alone (with one assignee, the small pages loaded and encoded one member).
const readMembers = 160

// team is a Pro workspace of bench-owner and invited members.
type team struct {
	workspace uuid.UUID
	users     []domain.UserID // bench-owner first
}

// benchTeam creates a Pro workspace owned by bench-owner with n members in all: the free plan
// allows 10, and the API cannot choose a plan, so it runs the commands the mutations run.
func benchTeam(ctx context.Context, h *commands.Handlers, n int) (team, error) {
	owner := domain.Actor{UserID: "bench-owner", Email: "owner@bench.test", EmailVerified: true, DisplayName: "Owner"}
	ws, err := h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: owner, Name: "Bench", Plan: domain.PlanPro})
	if err != nil {
		return team{}, fmt.Errorf("bench workspace: %w", err)
	}
	t := team{workspace: ws.ID, users: []domain.UserID{owner.UserID}}
	for j := 1; j < n; j++ {
		user := fmt.Sprintf("bench-member-%03d", j)
		m := domain.Actor{UserID: domain.UserID(user), Email: user + "@bench.test", EmailVerified: true, DisplayName: "Member " + user[len(user)-3:]}
		inv, err := h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws.ID, Email: m.Email, Role: domain.RoleMember})
		if err != nil {
			return team{}, fmt.Errorf("bench workspace: invite %s: %w", user, err)
		}
		if _, err := h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: m, WorkspaceID: ws.ID, InvitationID: inv.InvitationID}); err != nil {
			return team{}, fmt.Errorf("bench workspace: %s accepts: %w", user, err)
		}
		t.users = append(t.users, m.UserID)
	}
	return t, nil
}
