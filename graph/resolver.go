package graph

//go:generate sh -c "cd .. && go tool gqlgen generate && go run ./internal/tools/fastlists"

import (
	"context"
	"time"

	"github.com/taskforge/taskforge/audit"
	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/cluster"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// Resolver holds what the resolvers call: command handlers for mutations, the audit service for
// history queries, the projections' read queries for everything else. It is built once per server.
type Resolver struct {
	Commands *commands.Handlers
	Audit    *audit.Service
	Queries  *projections.Queries
	// Inspector serves the admins' webhookDeliveries and deadLetters.
	Inspector *sideeffects.Inspector
	// Statuses serves the engineers' projections query (projections.Statuses over the pool).
	Statuses func(context.Context) ([]projections.Status, error)
	// LiveNodes serves the engineers' clusterNodes query (cluster.Live over the pool); nil: none.
	LiveNodes func(context.Context) ([]cluster.Node, error)
	// Operators are the token subjects (TASKFORGE_OPERATORS) allowed the cross-tenant @operator
	// fields, besides tokens with the operator role claim. Empty: claim holders only.
	Operators []string
	// ConsistencyWait bounds how long a query given a consistency token waits for the read
	// models before it answers STALE (default 2 s).
	ConsistencyWait time.Duration
	// Hub serves the subscriptions (see graph/live). Nil: subscriptions answer UNAVAILABLE.
	Hub *live.Hub
	// Applied wakes workspaceChanged subscriptions; nil: they are unavailable.
	Applied *live.Applied
	// WebhookSecrets opens secrets for the admins' webhooks list, which shows them masked only.
	// Nil: the masks are null.
	WebhookSecrets *webhooksecrets.Store

	workflows workflowCache // boards' columns by workflow
}
