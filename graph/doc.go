// Package graph owns the GraphQL API (gqlgen): the schema under graph/schema (one file per type),
// resolvers that run command handlers for mutations and read the projections for queries, the
// @authenticated, @hasRole and @operator directives, the per-request dataloaders (graph/loaders), the error
// presenter that maps domain errors to extensions.code, and the request limits (body size,
// complexity, depth, operation timeout), and the subscription resolvers over the live hub
// (graph/live). It never writes read tables and never talks SQL itself.
//
//	HTTP ─▶ withRequest: body limit, bearer JWT → Principal, request/correlation ids, timeout,
//	        X-Consistency-Token
//	      ─▶ response cache (readcache.go, GRAPHQL_READ_CACHE_MB): a known cacheable query waits
//	         for its tokens, reads the caller's state (one statement) and is served from memory
//	         on a hit; a miss continues below and is stored when error-free and the state held
//	      ─▶ gqlgen: parse and validate (valid documents kept by query text: LRU query cache),
//	         complexity and depth limits (every operation, cached document or not)
//	      ─▶ AroundResponses: fresh loaders for each response (loaders.For)
//	      ─▶ @authenticated, @hasRole(role) (role in the field's workspaceId), @operator
//	         (cross-tenant fields: TASKFORGE_OPERATORS or the operator role claim)
//	      ─▶ resolvers ─▶ commands.Handlers (mutations)
//	                      ─▶ payload object, when selected: wait for the write, then as a query
//	                   ─▶ consistency wait (token → Queries.WaitFor, bounded: STALE)
//	                      ─▶ membership (NOT_FOUND outside the caller's workspaces)
//	                      ─▶ projections.Queries + loaders (members, projects, tasks, comments)
//	      ─▶ marshalling: lists of tasks selecting model fields only are written by graph/fastlist
//	         (no goroutine, field collection or context per task); everything else by gqlgen
//	      ─▶ errorPresenter: domain code / UNAUTHENTICATED / STALE / INTERNAL (details only in logs)
//
// No N+1, and no statement per workspace: a request runs a bounded number of statements
// whatever the size of its lists, the number of workspaces the caller is in, or how the tree
// spreads objects over lists (TestStatementBudget, counted by X-Sql-Statements). Three means:
//
//   - Loaders batch over (workspace, id) pairs: a batch is one statement for keys of any number
//     of workspaces, each key matching only a row of its own workspace (graph/loaders).
//   - Batch resolvers (gqlgen.yml) see every object of a list at once: Workspace.members and
//     Workspace.projects read a page of each of the workspaces' in one statement each (the
//     caller's workspaces: `workspaces { nodes { members projects } }` is as cheap for 6 as
//     for 1), Project.board
//     all the projects' boards in one statement (Loaders.LoadBoards).
//   - List resolvers prime what their children's selection needs, in one batch per kind, before
//     the children resolve (loadTaskChildren, primeBoards, loadNotificationTasks): a board's or
//     a task page's assignees, projects and comments, and the boards of the projects below — a
//     task page's tasks each have their project, each a list of its own, whose boards are then one
//     batch primed by the page (`tasks { edges { node { project { board } } } }` costs the same
//     for 2 tasks and 20), as are the boards of each workspace's projects. Board and task-page
//     resolvers also hand what they loaded to the task models, so the tasks' field resolvers
//     answer without a loader round each. A connection's edges are no list of their nodes (each
//     edge holds one): the connection primes its nodes' nested pages the same way
//     (primeWorkspaces, primeProjects, primeComments; read_pages.go), one statement per
//     nested field for the whole page, whichever way the client reaches the nodes.
//
// myRole is a model field filled from the caller's membership, read with the workspaces
// (Queries.Memberships) or by the membership check of workspace(id). Enum fields (priority,
// role, plan, kind) are plain model fields, filled when the model is built: gqlgen runs every
// resolver field of an object in a goroutine of its own once there are two, so conversions are
// not resolvers. project(id) and task(id) take two statements however many workspaces the
// caller is in: the caller's workspaces, then the object by id among them (workspace_id = ANY).
// Filters (the task filter grammar, unreadOnly) are part of the read query, so pages are full. What still
// grows with the tree is its shape: each level of the selection that loads something adds a
// batch, and the depth limit bounds the levels.
//
// # Mutation payloads
//
// A mutation's payload serves the object it changed (MutationResult.task, .project or .workspace,
// by the aggregate's kind; TaskResult.task, CommentResult.task, InvitationResult.workspace,
// WebhookResult.workspace), so that a client sees its own write in one round trip. The result
// converters (taskResult, projectResult, workspaceResult, payload.go) record in the payload model
// which aggregate the command changed and the position of its events. The object is a field
// resolver, so a mutation that does not select it pays nothing (TestPayloadStatements); one that
// does waits until the workspaces, projects and tasks read models have applied that position
// (Queries.WaitFor, bounded by ConsistencyWait: STALE), drops the request's loader caches (a
// document of several mutations shares one set of loaders, filled before this write), then reads
// the object exactly as task(id), project(id) or workspace(id) would: among the caller's
// workspaces, so a payload never serves another tenant's object, nor a workspace the caller has
// just left (null). The fields are nullable: a STALE read nulls the object, never the id,
// version and token of a write that happened.
//
// # Subscriptions (live updates)
//
// taskChanged(projectId), boardChanged(projectId) and notificationAdded(workspaceId) are served
// over a websocket on /graphql (graphql-transport-ws; graphql-ws too). The connection
// authenticates once: connection_init's {"authorization": "Bearer …"} or the upgrade request's
// header; an invalid token closes it. Each subscription is authorized when it starts, with the
// read side's membership check (NOT_FOUND outside the caller's workspaces), and takes one of the
// connection's Options.MaxSubscriptions slots.
//
//	mutation (any process) ─▶ eventstore.Append ─▶ events table ─┬─▶ projections runner ─▶ read tables
//	                                                             │   (one per deployment or more)
//	                                                             ▼
//	live.Hub (one per API process, graph/live): feed.Subscriber from the log's head, in memory;
//	  waits for the read models, loads the objects, offers them to each matching subscription
//	  ─▶ gqlgen writes the subscription's channel to the websocket (per-response loaders for
//	     nested fields)
//
// The hub's design (per-subscription queues judged by the client's own reads, no deadline on the
// projections) is in graph/live's doc.go. This package authorizes a subscription (liveProject,
// liveInbox), subscribes with Hub.TaskChanged, BoardChanged or NotificationAdded, and tells the
// client why the hub ended it (endNotice): SLOW_CONSUMER when a message waited
// live.HubOptions.SlowAfter for the client or MaxQueue were pending, FORBIDDEN when the member was
// removed, UNAVAILABLE when the hub stopped or could not load; every such error carries
// extensions.lastPosition, the last message delivered, from which a subscription given `since`
// resumes with nothing missed. With since, the records after it are first replayed from the sync
// pages (sync_replay.go), then the live messages follow with no gap and no duplicate;
// workspaceChanged reads the sync pages only, woken by live.Applied (sync_live.go).
//
// A websocket lives as long as its token: at the token's expiry (plus the verifier's leeway) the
// connection's context ends, which ends its subscriptions, and the socket closes with 4401
// (CloseUnauthenticated), as does a connection_init with a bad token. gqlgen closes a connection
// whose context ended with 1000 and takes no code from it, so the socket is wrapped (closeCodes)
// to write the code the connection chose.
//
// Generated code (graph/generated, graph/model/models_gen.go) is committed; regenerate with
// `go generate ./...` after editing the schema. Resolver bodies survive regeneration. The read
// side's objects are hand-written in graph/model/read.go (built from the read models' rows by
// graph/model/convert.go, for the resolvers and the live hub alike), the mutation payloads in
// graph/model/payload.go, both bound in gqlgen.yml.
package graph
