// Package live owns the live hub: the consumer of the global log that feeds the GraphQL
// subscriptions (taskChanged, boardChanged, notificationAdded) of one server process. It decides
// which open subscription wants which event, waits until the read models include it, loads the
// objects subscriptions receive (graph/model, the same the resolvers return) and queues them,
// never blocking on a client. Package graph authorizes a subscription (membership, the
// connection's limit), then subscribes through Hub.TaskChanged, BoardChanged or
// NotificationAdded, and turns an EndReason into the error its client receives; this package
// knows nothing of GraphQL transports or resolvers.
//
//	eventstore/feed: feed.Subscriber, group ConsumerGroup, in-memory checkpoint from the head at Run
//	   │ NOTIFY / OnCommit wake-up, 1 s poll fallback; every message acked (nothing is retried)
//	   ▼
//	read: task events, project events that change a board, member removals
//	   │ queue (at most 4096 events; when full the reader stops acking and the tail pauses)
//	   ▼
//	deliver: everything queued at once, for the events some open subscription wants
//	   │ projections.Queries.WaitFor(last position, tasks | projects | notifications)
//	   │   (bounded by HubOptions.ApplyWait; events not applied in time are logged, not delivered)
//	   ▼
//	load read models once per batch: TasksByKeys, ProjectsByKeys, Notifications (per inbox)
//	   │ in log order; a task changed several times in a batch is sent once, in its latest state
//	   ▼
//	per-subscription buffers (HubOptions.Buffer, 64): a non-blocking offer each
//	   ─▶ the caller (gqlgen) writes the channel to the websocket
//
// Notifications: who hears of an event live is domain's rule (domain.PlanNotifications, the one
// the inbox and the email outbox follow). The hub does not know a task's assignee or creator, so
// it loads, at the event's position, the inbox of each subscriber the rule may reach (hearsLive)
// and sends what the inbox holds there.
//
// A live tail, not a durable consumer: the hub's position starts at the log's head when Run
// starts and lives in memory, so nothing is stored under its consumer group and nothing is
// replayed after a restart or a reconnect (a client re-queries, then subscribes again). A
// subscription receives every relevant change committed after it was registered: subscribing
// waits until Run knows its start position. Because every process tails the shared event store,
// a mutation served by one process reaches subscribers connected to any other.
//
// Slow consumers: the hub never waits for a client. When a message finds a subscription's buffer
// full, the subscription is dropped (EndSlow, counted, logged): its channel delivers what was
// queued and is then closed, and its client is told SLOW_CONSUMER (CodeSlowConsumer) so that it
// re-queries and subscribes again. Dropping rather than skipping the oldest message means a client
// never silently misses a change in the middle of a stream.
//
// Access revocation: when a member is removed from a workspace (workspace.member_removed, in log
// order with the other events), every subscription of that user in that workspace ends with
// EndRevoked, which its client receives as FORBIDDEN (domain.CodeForbidden) rather than a plain
// completion it would take for "done". Access is otherwise checked once, by the caller, when a
// subscription starts.
//
// When Run returns every open subscription ends (EndDone) and new ones get ErrUnavailable.
package live
