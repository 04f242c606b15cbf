// Package feed owns the event store's global log as Watermill messages: a message.Subscriber
// whose topic is a consumer group, which resumes from the group's checkpoint and delivers events
// in the commit-safe global order, woken by NOTIFY. It is the one way the log is followed in this
// service: the projections' runner, the side-effect consumer and the GraphQL live hub are its
// consumers, siblings that share nothing else. It never writes the event store; where a group's
// checkpoint lives is the consumer's business (CheckpointStore).
//
// # Delivery
//
//	         checkpoint                    read                          message              ack
//	CheckpointStore.Load(group) ──▶ ReadAll(pos, 500) ──▶ one message at a time ──▶ Ack: CheckpointStore.Save,
//	          ▲                     (shared tail, shared                            next message
//	          │                      empty reads)                                   Nack: wait NackBackoff,
//	          └─────────────────────────────────────────────────────────────────── re-read from the checkpoint
//
//	nothing to read: wait for a wake-up
//	eventstore ──Notifier (LISTEN/NOTIFY, in-process Wake)──▶ every subscription
//	Head() once per PollInterval for all subscriptions ─────▶ every subscription (a lost NOTIFY)
//
// Why NOTIFY: a commit's NOTIFY (and, in the writing process, eventstore.Options.OnCommit) wakes
// every subscription at once, so an event reaches its consumers in milliseconds while an idle
// Subscriber issues one query per PollInterval in all (the shared head poll, the fallback for a
// notification lost while the listener reconnects), not one per subscription per tick.
//
// The subscriptions of one Subscriber share their reads: the latest stretch of the log read is
// kept (about 2000 events), and a subscription that finds its position in it takes the events from
// there; otherwise one subscription at a time reads the store, so the five projections woken by
// one commit issue one read for it, not five. An empty read is shared too, until the next
// wake-up.
//
// A message's UUID is the event id, its payload the event's data (JSON, upcast), its metadata the
// type, stream, version, global position, recorded time, actor, workspace and the position of the
// message before it (MetaPrev*), which lets a consumer that commits its own checkpoint detect gaps.
// A batch message (SubscriberConfig.MaxBatch) has a new UUID, MetaBatchSize and MetaPrev*; its
// events, like every message's, also travel decoded in the message's context, which
// EventsFromMessage and EventFromMessage read first (a batch has no payload: it never leaves the
// process).
//
// After a read comes back empty while committed events wait behind a running transaction (they
// become readable when it ends, which sends no NOTIFY) the subscription looks again after 1, 2, 4 ..
// 5 ms. Idle, a projections Runner with every projection issues one query per second in all (the
// shared head poll); measured with projections' TestIdleQueryRate.
package feed
