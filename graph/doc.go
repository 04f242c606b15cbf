// Package graph owns the GraphQL API (gqlgen): the schema under graph/schema (one file per type),
// resolvers that run command handlers for mutations (and read projections for queries), the
// @authenticated directive, the error presenter that maps domain errors to extensions.code, and
// the request limits (body size, complexity, depth, operation timeout). It never writes read tables
// and never talks to the event store directly.
//
//	HTTP ─▶ withRequest: body limit, bearer JWT → Principal, request/correlation ids, timeout
//	      ─▶ gqlgen: parse, validate, complexity and depth limits
//	      ─▶ resolvers ─▶ commands.Handlers (mutations)
//	      ─▶ errorPresenter: domain code / UNAUTHENTICATED / INTERNAL (details only in logs)
//
// Generated code (graph/generated, graph/model) is committed; regenerate with `go generate ./...`
// after editing the schema. Resolver bodies survive regeneration.
package graph
