package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/internal/auth"
	"github.com/taskforge/taskforge/internal/config"
)

// seedDemo creates a demo workspace through the ordinary command handlers, so the board is not
// empty on a first `make run`. Every command carries a fixed idempotency key: running it again
// (every start with --demo) returns the first results and appends nothing.
func seedDemo(ctx context.Context, cfg config.Config, h *commands.Handlers, log *slog.Logger) error {
	return seedDemoAt(ctx, cfg, h, log, time.Now())
}

// seedDemoAt is seedDemo with the clock the due dates count from.
func seedDemoAt(ctx context.Context, cfg config.Config, h *commands.Handlers, log *slog.Logger, now time.Time) error {
	ada := domain.Actor{UserID: "demo-ada", Email: "ada@demo.taskforge.dev", EmailVerified: true, DisplayName: "Ada Lovelace"}
	grace := domain.Actor{UserID: "demo-grace", Email: "grace@demo.taskforge.dev", EmailVerified: true, DisplayName: "Grace Hopper"}
	key := func(k string) string { return "demo-seed-v1-" + k }

	for _, a := range []domain.Actor{ada, grace} {
		if _, err := h.RegisterUser.Handle(ctx, commands.RegisterUser{Actor: a, IdempotencyKey: key("user")}); err != nil {
			return fmt.Errorf("register %s: %w", a.UserID, err)
		}
	}
	ws, err := h.CreateWorkspace.Handle(ctx, commands.CreateWorkspace{Actor: ada, Name: "Demo workspace", IdempotencyKey: key("workspace")})
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	inv, err := h.InviteMember.Handle(ctx, commands.InviteMember{Actor: ada, WorkspaceID: ws.ID, Email: grace.Email,
		Role: domain.RoleMember, IdempotencyKey: key("invite")})
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	if _, err := h.AcceptInvitation.Handle(ctx, commands.AcceptInvitation{Actor: grace, WorkspaceID: ws.ID,
		InvitationID: inv.InvitationID, IdempotencyKey: key("accept")}); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	p, err := h.CreateProject.Handle(ctx, commands.CreateProject{Actor: ada, WorkspaceID: ws.ID, Name: "Taskforge", Key: "TF",
		IdempotencyKey: key("project")})
	if err != nil {
		return fmt.Errorf("project: %w", err)
	}
	due := now.UTC().Add(72 * time.Hour).Truncate(time.Hour)
	tasks := []struct {
		title    string
		priority domain.Priority
		labels   []string
		assignee domain.UserID
		moves    []string
	}{
		{"Design the board's drag and drop", domain.PriorityHigh, []string{"frontend"}, grace.UserID, []string{"in_progress"}},
		{"Hash-chain every stream", domain.PriorityUrgent, []string{"backend", "audit"}, ada.UserID, []string{"in_progress", "in_review", "done"}},
		{"Webhook signatures (HMAC)", domain.PriorityMedium, []string{"backend"}, ada.UserID, []string{"in_progress", "in_review"}},
		{"Read-your-writes for the API", domain.PriorityHigh, []string{"backend", "api"}, grace.UserID, nil},
		{"Write the onboarding guide", domain.PriorityLow, []string{"docs"}, "", nil},
		{"Email digest of mentions", domain.PriorityNone, nil, "", []string{"cancelled"}},
	}
	for i, t := range tasks {
		res, err := h.CreateTask.Handle(ctx, commands.CreateTask{Actor: ada, ProjectID: p.ID, Title: t.title,
			Description: "Seeded by `taskforge serve --demo`.", Priority: t.priority, Labels: t.labels,
			Assignee: t.assignee, DueDate: &due, IdempotencyKey: key(fmt.Sprintf("task-%d", i))})
		if errors.Is(err, commands.ErrIdempotencyKeyReused) {
			// Seeded by an earlier start, when "in three days" was another date: the task, its
			// moves and its comment are there already.
			continue
		}
		if err != nil {
			return fmt.Errorf("task %q: %w", t.title, err)
		}
		for j, status := range t.moves {
			if _, err := h.ChangeTaskStatus.Handle(ctx, commands.ChangeTaskStatus{Actor: ada, TaskID: res.ID, Status: status,
				IdempotencyKey: key(fmt.Sprintf("task-%d-move-%d", i, j))}); err != nil {
				return fmt.Errorf("move %q: %w", t.title, err)
			}
		}
		if i == 0 {
			if _, err := h.AddComment.Handle(ctx, commands.AddComment{Actor: ada, TaskID: res.ID,
				Body: "@grace can you take a first pass at this?", IdempotencyKey: key("comment-0")}); err != nil {
				return fmt.Errorf("comment: %w", err)
			}
		}
	}
	log.Info("demo workspace ready", "workspace", ws.ID, "project", p.ID, "users", "demo-ada, demo-grace")
	if cfg.JWTSecret != "" {
		tok, err := auth.MintHS256([]byte(cfg.JWTSecret), auth.Principal{UserID: string(ada.UserID), Email: ada.Email, Name: ada.DisplayName},
			7*24*time.Hour, time.Now(), cfg.JWTIssuer, cfg.JWTAudience)
		if err != nil {
			return err
		}
		fmt.Printf("\nDemo: sign in as Ada (owner of the demo workspace) with the HTTP header\n  {\"Authorization\": \"Bearer %s\"}\n"+
			"and try: { workspaces { nodes { name projects { nodes { key name board { name tasks { key title assignee { displayName } } } } } } } }\n\n", tok)
	}
	return nil
}
