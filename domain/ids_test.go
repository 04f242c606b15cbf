package domain

import "testing"

func TestStreamIDs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{WorkspaceStream(wsID), "workspace-00000000-0000-4000-8000-000000000001"},
		{ProjectStream(projectID), "project-00000000-0000-4000-8000-000000000002"},
		{TaskStream(taskID), "task-00000000-0000-4000-8000-000000000003"},
		{UserStream("auth0|42"), "user-auth0|42"},
		{MemberStream(wsID, "auth0|42"), "member-00000000-0000-4000-8000-000000000001-auth0|42"},
		{TaskKey("TF", 42), "TF-42"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if StreamTypeWorkspace != "workspace" || StreamTypeProject != "project" || StreamTypeTask != "task" || StreamTypeUser != "user" || StreamTypeMember != "member" {
		t.Fatal("stream types are stored: they must never change")
	}
}
