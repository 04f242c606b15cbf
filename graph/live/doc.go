// Package live owns the live hub: the consumer of the global log that feeds the GraphQL
// subscriptions (taskChanged, boardChanged, notificationAdded) of one server process. It decides
// which open subscription wants which event, waits until the read models include it, loads the
// objects subscriptions receive (graph/model, the same the resolvers return) and queues them,
// each with the position of the event it comes from, never blocking on a client. Package graph
// authorizes a subscription (membership, the connection's limit), then subscribes through
// Hub.TaskChanged, BoardChanged or NotificationAdded, and turns an End into the error its client
// receives; this package knows nothing of GraphQL transports or resolvers.
//
//	eventstore/feed: feed.Subscriber, group ConsumerGroup, in-memory checkpoint from the head at Run
//	   │ NOTIFY / OnCommit wake-up, 1 s poll fallback
//	   ▼
//	read: task events, project events that change a board, member removals
//	   │ queue (at most 4096 events; when full the reader stops acking and the tail pauses:
//	   │ the log is the buffer)
//	   ▼
//	deliver: everything queued at once, for the events some open subscription wants
//	   │ projections.Queries.WaitFor(last position, tasks | projects | notifications), for as long
//	   │   as it takes (a warning every HubOptions.WaitWarn; ProjectionWait, the
//	   │   taskforge_live_projection_wait_seconds gauge); a failing query is retried with backoff
//	   ▼
//	load read models once per batch: TasksByKeys, ProjectsByKeys, Notifications (per inbox, paged)
//	   │ retried with backoff for HubOptions.LoadRetry; then the subscriptions that wanted the
//	   │ state end (EndFailed) rather than miss it
//	   │ in log order; a task changed several times in a batch is sent once, in its latest state
//	   ▼
//	per-subscription queue of (position, message), up to HubOptions.MaxQueue
//	   ─▶ its pump ─▶ unbuffered channel ─▶ the caller (gqlgen) writes it to the websocket
//
// Notifications: who hears of an event live is domain's rule (domain.PlanNotifications, the one
// the inbox and the email outbox follow). The hub does not know a task's assignee or creator, so
// it loads, at the event's position, the inbox of each subscriber the rule may reach (hearsLive)
// and sends what the inbox holds there.
//
// A live tail, not a durable consumer: the hub's position starts at the log's head when Run
// starts and lives in memory, so nothing is stored under its consumer group. A subscription
// starts at the hub's cursor (the last event matched to subscriptions when it registered) and
// receives every change it wants after that, in log order; subscribing waits until Run knows its
// start position. Because every process tails the shared event store, a mutation served by one
// process reaches subscribers connected to any other.
//
// No change is lost silently. The hub never gives up on the projections: when they stall (workers
// stopped, a long transaction, a database restart) it delivers late, not never. A subscription
// that the hub ends for any reason but its client stopping ends with an End carrying
// LastPosition: the position of the last message its channel delivered (each message's event
// position; BoardChange's ConsistencyToken), or its start when none. Every change it would have
// sent after that is in the log, so a client resumes from it (`since`) and misses nothing.
//
// Slow consumers are judged by their own reading, never by a server-side stall or burst: each
// subscription has its own queue, which grows with a burst, and a pump goroutine that offers the
// queue's head to the channel the caller reads. The channel is unbuffered, so the pump knows the
// last message taken and its position exactly. A subscription is dropped (EndSlow, counted,
// logged; CodeSlowConsumer) when a message has waited HubOptions.SlowAfter for its client (the
// clock runs from the later of the message's arrival and the client's last take, so an idle
// subscription is never slow), or when MaxQueue messages are pending (memory). A dropped
// subscription's channel is closed without what the client did not take: its LastPosition says
// where to resume.
//
// Access revocation: when a member is removed from a workspace (workspace.member_removed, in log
// order with the other events), every subscription of that user in that workspace ends with
// EndRevoked, after the messages queued before the removal; its client receives FORBIDDEN
// (domain.CodeForbidden) rather than a plain completion it would take for "done". Access is
// otherwise checked once, by the caller, when a subscription starts.
//
// When Run returns, every open subscription delivers what it has queued and ends (EndStopped,
// with its LastPosition); new ones get ErrUnavailable.
package live
