// Package graph owns the GraphQL API (gqlgen): the schema under graph/schema (one file per type),
// resolvers that run command handlers for mutations and read the projections for queries, the
// @authenticated and @hasRole directives, the per-request dataloaders (graph/loaders), the error
// presenter that maps domain errors to extensions.code, and the request limits (body size,
// complexity, depth, operation timeout). It never writes read tables and never talks SQL itself.
//
//	HTTP ─▶ withRequest: body limit, bearer JWT → Principal, request/correlation ids, timeout,
//	        X-Consistency-Token
//	      ─▶ gqlgen: parse, validate, complexity and depth limits
//	      ─▶ AroundResponses: fresh loaders for each response (loaders.For)
//	      ─▶ @authenticated, @hasRole(role) (role in the field's workspaceId)
//	      ─▶ resolvers ─▶ commands.Handlers (mutations)
//	                   ─▶ consistency wait (token → Queries.WaitFor, bounded: STALE)
//	                      ─▶ membership (NOT_FOUND outside the caller's workspaces)
//	                      ─▶ projections.Queries + loaders (members, projects, tasks, comments)
//	      ─▶ errorPresenter: domain code / UNAUTHENTICATED / STALE / INTERNAL (details only in logs)
//
// No N+1: list resolvers (board, tasks, notifications) prime the loaders their children's
// selection needs in one batch, so a board of 200 tasks runs as many statements as one of 10
// (TestStatementBudget, counted by X-Sql-Statements). Known costs that grow: `workspaces { myRole }`
// and project(id)/task(id) look up one statement per workspace of the caller (the read side has
// no by-user lookup), and Task.comments runs one statement per task (no multi-task comment query).
//
// Generated code (graph/generated, graph/model/models_gen.go) is committed; regenerate with
// `go generate ./...` after editing the schema. Resolver bodies survive regeneration. The read
// side's objects are hand-written in graph/model/read.go and bound in gqlgen.yml.
package graph
