package graph

//go:generate sh -c "cd .. && go tool gqlgen generate"

import (
	"github.com/taskforge/taskforge/audit"
	"github.com/taskforge/taskforge/commands"
)

// Resolver holds what the resolvers call: command handlers for mutations, the audit service for
// history queries (and, with the read side, the projections' queries). It is built once per server.
type Resolver struct {
	Commands *commands.Handlers
	Audit    *audit.Service
}
