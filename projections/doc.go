// Package projections owns the read side: Watermill handlers that fold the event store's global
// log into denormalised read tables (each table write committed with the projection's checkpoint),
// the subscriber that delivers the log in commit-safe order, rebuilds into versioned tables, and the
// read queries the GraphQL layer serves from.
//
// The projections themselves are built by issue 4; the event store already provides what they
// stand on: eventstore.ReadAll (gap-free global order from a GlobalPosition checkpoint) and
// eventstore.Notifier (wake-ups on commit).
package projections
