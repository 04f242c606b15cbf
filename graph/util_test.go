package graph_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	require.NoError(t, err)
	return id
}

// crossMutations are a document per mutation that names another workspace's objects, with the
// variables ws, p, t, o (another task), c, h, i and alice. The tenant test and the foreign-id test
// walk them, and check them against introspection so a new mutation cannot be missed.
var crossMutations = map[string]string{
	"renameWorkspace":     `mutation($ws: ID!) { renameWorkspace(input: {workspaceId: $ws, name: "pwned"}) { id } }`,
	"inviteMember":        `mutation($ws: ID!) { inviteMember(input: {workspaceId: $ws, email: "m@evil.test", role: ADMIN}) { id } }`,
	"acceptInvitation":    `mutation($ws: ID!, $i: ID!) { acceptInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`,
	"revokeInvitation":    `mutation($ws: ID!, $i: ID!) { revokeInvitation(input: {workspaceId: $ws, invitationId: $i}) { id } }`,
	"changeMemberRole":    `mutation($ws: ID!, $alice: ID!) { changeMemberRole(input: {workspaceId: $ws, userId: $alice, role: VIEWER}) { id } }`,
	"removeMember":        `mutation($ws: ID!, $alice: ID!) { removeMember(input: {workspaceId: $ws, userId: $alice}) { id } }`,
	"registerWebhook":     `mutation($ws: ID!) { registerWebhook(input: {workspaceId: $ws, url: "https://evil.test", secret: "0123456789abcdef"}) { id } }`,
	"updateWebhook":       `mutation($ws: ID!, $h: ID!) { updateWebhook(input: {workspaceId: $ws, webhookId: $h, url: "https://evil.test"}) { id } }`,
	"removeWebhook":       `mutation($ws: ID!, $h: ID!) { removeWebhook(input: {workspaceId: $ws, webhookId: $h}) { id } }`,
	"rotateWebhookSecret": `mutation($ws: ID!, $h: ID!) { rotateWebhookSecret(input: {workspaceId: $ws, webhookId: $h}) { id secret } }`,
	"createProject":       `mutation($ws: ID!) { createProject(input: {workspaceId: $ws, name: "x", key: "EV"}) { id } }`,
	"renameProject":       `mutation($p: ID!) { renameProject(input: {projectId: $p, name: "pwned"}) { id } }`,
	"archiveProject":      `mutation($p: ID!) { archiveProject(input: {projectId: $p}) { id } }`,
	"unarchiveProject":    `mutation($p: ID!) { unarchiveProject(input: {projectId: $p}) { id } }`,
	"defineWorkflow": `mutation($p: ID!) { defineWorkflow(input: {projectId: $p, initial: "a",
		statuses: [{id: "a", name: "A", category: TODO}], transitions: []}) { id } }`,
	"createTask":       `mutation($p: ID!) { createTask(input: {projectId: $p, title: "spam"}) { id } }`,
	"editTask":         `mutation($t: ID!) { editTask(input: {taskId: $t, title: "pwned"}) { id } }`,
	"changeTaskStatus": `mutation($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "done"}) { id } }`,
	"assignTask":       `mutation($t: ID!, $alice: ID!) { assignTask(input: {taskId: $t, assigneeId: $alice}) { id } }`,
	"unassignTask":     `mutation($t: ID!) { unassignTask(input: {taskId: $t}) { id } }`,
	"reorderTask":      `mutation($t: ID!, $o: ID!) { reorderTask(input: {taskId: $t, previousTaskId: $o}) { id } }`,
	"archiveTask":      `mutation($t: ID!) { archiveTask(input: {taskId: $t}) { id } }`,
	"restoreTask":      `mutation($t: ID!) { restoreTask(input: {taskId: $t}) { id } }`,
	"addComment":       `mutation($t: ID!) { addComment(input: {taskId: $t, body: "spam"}) { id } }`,
	"editComment":      `mutation($t: ID!, $c: ID!) { editComment(input: {taskId: $t, commentId: $c, body: "pwned"}) { id } }`,
	"deleteComment":    `mutation($t: ID!, $c: ID!) { deleteComment(input: {taskId: $t, commentId: $c}) { id } }`,
	// a notification id that is not the caller's (TestMarkNotificationReadOnlyOwn uses real ones)
	"markNotificationRead":     `mutation($c: ID!) { markNotificationRead(id: $c) }`,
	"markAllNotificationsRead": `mutation($ws: ID!) { markAllNotificationsRead(workspaceId: $ws) }`,
}

// selfMutations take no id: they act on the caller alone, so there is nothing to cross.
var selfMutations = map[string]bool{"registerUser": true, "updateProfile": true, "createWorkspace": true, "markNotificationsRead": true,
	"updateNotificationPreferences": true}
