// Package graph owns the GraphQL API (gqlgen): the schema under graph/schema, resolvers that run
// commands for mutations and read projections for queries, per-request dataloaders, the @hasRole
// directive and the error presenter. It never writes read tables and never talks to the event
// store directly. See gqlgen.yml.
//
// The API itself is built by issue 5; until then `taskforge serve` exposes only health, readiness
// and metrics.
package graph
