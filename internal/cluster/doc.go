// Package cluster owns what makes several `taskforge serve` processes one deployment, with
// PostgreSQL as the only coordinator (no consensus of our own, no extra service):
//
//   - the registry of processes (Registration, Live): each process registers a node (role, host,
//     pid, version) in cluster_nodes and keeps its heartbeat fresh; `taskforge nodes` and the
//     operators' GraphQL query list the live ones with the consumers they own;
//   - consumer ownership (Leaser): every consumer group that must run once — each projection, the
//     side-effect enqueuer — is owned by one worker process at a time through a lease row in
//     consumer_leases carrying a fencing token.
//
// # Why lease rows checked against the owner's session, and not advisory locks or plain expiry
//
// A session advisory lock on a dedicated connection is released the instant its owner dies,
// which makes failover fast, but it carries no token that a commit could check (a paused owner
// still holds it and still commits after its connection is finally cut), it cannot express "taken
// because the owner stopped answering", and it hides ownership from SQL: `taskforge nodes` could
// not say who owns what. A lease row with only an expiry is checkable and visible, but it fails
// over in a lease time (Marten polls every 5 s, Axon steals a claim after 10 s, Emmett's lease is
// 300 s): a short TTL to make it fast turns every GC pause or slow renewal into a takeover.
//
// So a lease is a row that names its owner's lease session — one connection on the direct URL,
// identified by pid and backend_start (a pid alone can be reused) — with an expiry renewed every
// TTL/4 through that session. Anyone may take it when it is free, when its expiry passed (an owner
// cut off with its connection still open: replaced within LEASE_TTL, 5 s by default), or when the
// owner's session is gone from pg_stat_activity (killed, crashed, backend terminated). The last
// case is seen on the next check of any live worker (every 200 ms), so a SIGKILLed owner is
// replaced in well under a second, and a long TTL costs nothing but the time to notice a cut-off
// owner. PostgreSQL notices a dead client at once because the kernel closes its socket; a
// connection through PgBouncer would not say which backend is whose, hence the direct URL.
// pg_stat_activity shows another role's sessions with a NULL backend_start, unless the reader is
// a member of pg_read_all_stats: such a hidden session counts as alive while its pid is connected
// (taskforge_session_alive, migration 00014, the one liveness test). Workers that connect as
// different roles, without pg_read_all_stats, then share the consumers as one role's do; the
// only difference is that a pid reused after a death keeps that owner's leases until they expire.
//
// # Fencing
//
// Each acquisition adds one to the lease's token. A consumer's own commit checks it in the same
// transaction: taskforge_projection_try_advance(…, token) and the side-effect checkpoint lock the
// lease row FOR KEY SHARE and refuse ('fenced') when the token moved on. The row lock orders a
// commit and a takeover: a takeover cannot land between the check and the COMMIT, and a commit
// after a takeover sees the new token. So an owner that lost its lease — paused past its TTL, cut
// off, its connections terminated — can never commit after another took over, whatever its clocks
// say. The token is a key column (UNIQUE (name, token)), so that lock conflicts only with a change
// of token: the owner's own renewals never wait behind its commits (with FOR SHARE they did, and
// each waiting renewal held an xid that held every reader's horizon back). A takeover does not wait
// behind a commit in flight (lock_timeout 100 ms, retried next check), and the consumers'
// transactions set idle_in_transaction_session_timeout so that an owner paused in the middle of one
// cannot hold the row for ever.
//
// # Spreading the work
//
// The members are the workers whose lease session is alive and that renewed within the TTL, with
// their pins (WORKER_CONSUMERS; none: any consumer). Every member computes the same assignment
// from the same rows (assign): a pinned worker runs only its pinned consumers (shared among the
// workers pinned to them), and the unpinned workers share the rest: a consumer stays with its
// owner while the owner holds fewer than its share, ceil(consumers / members), and the rest go one
// by one to the member with the fewest. No worker holds more than its share plus one; a join, a
// leave or a death moves only what it must. A member gives back what the assignment moved elsewhere once its consumer stopped
// (its in-flight commit finished), and takes what it was given when nobody live owns it.
//
// Deliveries of side effects are not leased: any number of workers claim outbox rows with SKIP
// LOCKED. A claim names the claiming node, so when a node leaves the members its claims are
// released at once (OnMembers) instead of waiting for their lease: the delivery in flight at a kill
// is repeated with the same delivery id and Idempotency-Key (at least once).
package cluster
