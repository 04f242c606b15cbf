package projections_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
)

// TestBulkRebuildEqualsLive: a rebuild's load phase folds events in memory and writes them in
// bulk (bulk.go); its tables must equal the ones the live statements built, row for row, for
// every kind of event, whether a row's life falls in one batch or spans many.
func TestBulkRebuildEqualsLive(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(projections.RunnerOptions{})
	w := f.world(6)
	h, ctx := f.h, f.ctx
	must := func(_ any, err error) { t.Helper(); require.NoError(t, err) }

	// Events randomOp does not produce: profiles, comment edits and deletions, task fields,
	// workflow changes, project and workspace changes, member roles and removal.
	must(h.RegisterUser.Handle(ctx, commands.RegisterUser{Actor: member}))
	c1, err := h.AddComment.Handle(ctx, commands.AddComment{Actor: member, TaskID: w.tasks[0], Body: "first @max"})
	require.NoError(t, err)
	c2, err := h.AddComment.Handle(ctx, commands.AddComment{Actor: other, TaskID: w.tasks[0], Body: "second"})
	require.NoError(t, err)
	must(h.AssignTask.Handle(ctx, commands.AssignTask{Actor: owner, TaskID: w.tasks[0], Assignee: other.UserID}))
	must(h.EditComment.Handle(ctx, commands.EditComment{Actor: member, TaskID: w.tasks[0], CommentID: c1.CommentID, Body: "edited @olga"}))
	must(h.DeleteComment.Handle(ctx, commands.DeleteComment{Actor: other, TaskID: w.tasks[0], CommentID: c2.CommentID}))
	desc, prio, labels := "A longer description", domain.PriorityHigh, []string{"ui", "bug"}
	must(h.EditTask.Handle(ctx, commands.EditTask{Actor: member, TaskID: w.tasks[1], Description: &desc, Priority: &prio, Labels: &labels}))
	must(h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: w.tasks[1], Status: "in_progress"}))
	must(h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: member, TaskID: w.tasks[1], Status: "in_review"}))
	wf := domain.DefaultWorkflow()
	for i := range wf.Statuses {
		if wf.Statuses[i].ID == "in_review" {
			wf.Statuses[i].Category = domain.CategoryDone // in_review tasks are no longer open
		}
	}
	must(h.DefineWorkflow.Handle(ctx, commands.DefineWorkflow{Actor: owner, ProjectID: w.project, Workflow: wf}))
	must(h.RenameProject.Handle(ctx, commands.RenameProject{Actor: owner, ProjectID: w.project, Name: "Taskforge 2"}))
	must(h.RenameWorkspace.Handle(ctx, commands.RenameWorkspace{Actor: owner, WorkspaceID: w.ws, Name: "Acme Inc"}))
	must(h.RegisterUser.Handle(ctx, commands.RegisterUser{Actor: other}))
	must(h.UpdateUserProfile.Handle(ctx, commands.UpdateUserProfile{Actor: other, DisplayName: "Maximilian", Email: other.Email}))
	must(h.ChangeMemberRole.Handle(ctx, commands.ChangeMemberRole{Actor: owner, WorkspaceID: w.ws, UserID: member.UserID, Role: domain.RoleAdmin}))
	rng := rand.New(rand.NewPCG(3, 3))
	for range 150 {
		require.NoError(t, randomOp(ctx, h, &w, rng))
	}
	must(h.RemoveMember.Handle(ctx, commands.RemoveMember{Actor: owner, WorkspaceID: w.ws, UserID: other.UserID}))
	must(h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "Zed@X.io", Role: domain.RoleViewer}))
	gone, err := h.InviteMember.Handle(ctx, commands.InviteMember{Actor: owner, WorkspaceID: w.ws, Email: "gone@x.io", Role: domain.RoleMember})
	require.NoError(t, err)
	must(h.RevokeInvitation.Handle(ctx, commands.RevokeInvitation{Actor: owner, WorkspaceID: w.ws, InvitationID: gone.InvitationID}))
	must(h.ArchiveProject.Handle(ctx, commands.ArchiveProject{Actor: owner, ProjectID: w.project}))
	f.caughtUp()

	compare := func(res []projections.RebuildResult, what string) {
		t.Helper()
		for _, r := range res {
			p, err := projections.ByName(r.Name)
			require.NoError(t, err)
			for _, table := range p[0].Tables {
				require.Equal(t, f.checksum(fmt.Sprintf("%s_v%d", table, r.FromVersion)), f.checksum(fmt.Sprintf("%s_v%d", table, r.Version)),
					"%s: %s", what, table)
				// The load defers some keys (rebuild_keys.go): the version must end with every one.
				require.Equal(t, f.indexes(table, r.FromVersion), f.indexes(table, r.Version), "%s: indexes of %s", what, table)
			}
		}
	}
	// Small batches: most rows are written by one batch and changed by later ones.
	res, err := projections.Rebuild(ctx, f.store, projections.All(), projections.RebuildOptions{KeepOld: true, BatchEvents: 7, BulkEvents: 7})
	require.NoError(t, err)
	compare(res, "live v1 against bulk v2 (batches of 7)")
	// One batch: every row's whole life folded in memory.
	res, err = projections.Rebuild(ctx, f.store, projections.All(), projections.RebuildOptions{KeepOld: true})
	require.NoError(t, err)
	compare(res, "bulk v2 against bulk v3 (one batch)")
}

// indexes lists the definitions of the indexes of version v of table, the version suffix left out.
func (f *fixture) indexes(table string, v int) []string {
	f.t.Helper()
	var defs []string
	name := fmt.Sprintf("%s_v%d", table, v)
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT coalesce(array_agg(replace(indexdef, $1, $2) ORDER BY replace(indexdef, $1, $2)), '{}')
		FROM pg_indexes WHERE tablename = $1`, name, table).Scan(&defs))
	require.NotEmpty(f.t, defs, name)
	return defs
}
