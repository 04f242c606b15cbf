package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultHeartbeat is how often a node refreshes its row; a node is dead after DeadAfter
// intervals without one.
const (
	DefaultHeartbeat = 2 * time.Second
	DeadAfter        = 5
)

// Node is a process of the deployment.
type Node struct {
	ID          uuid.UUID `json:"id"`
	Role        string    `json:"role"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// Consumers are the consumer leases the node holds through its live lease session.
	Consumers []OwnedConsumer `json:"consumers"`
}

// OwnedConsumer is a consumer lease held by a node.
type OwnedConsumer struct {
	Name       string    `json:"name"`
	Token      int64     `json:"token"`       // the lease's fencing token
	AcquiredAt time.Time `json:"acquired_at"` // the lease's age is now - AcquiredAt
}

// Registration is this process's node, kept alive by Run.
type Registration struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	interval time.Duration
	node     Node
}

// New describes this process as node id (uuid.Nil: a new one) of role; interval 0 means
// DefaultHeartbeat.
func New(pool *pgxpool.Pool, id uuid.UUID, role string, interval time.Duration, log *slog.Logger) *Registration {
	if interval <= 0 {
		interval = DefaultHeartbeat
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	if id == uuid.Nil {
		id = uuid.New()
	}
	return &Registration{pool: pool, log: log, interval: interval,
		node: Node{ID: id, Role: role, Host: host, PID: os.Getpid(), Version: Version()}}
}

// ID is this node's id.
func (r *Registration) ID() uuid.UUID { return r.node.ID }

// Run registers the node, refreshes its heartbeat every interval (registering it again if its
// row was removed, e.g. by a peer that took it for dead during a long pause), deletes dead
// nodes' rows, and deregisters when ctx is done. A failed heartbeat is logged and retried.
func (r *Registration) Run(ctx context.Context) error {
	if err := r.beat(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("register node: %w", err)
	}
	r.log.Info("node registered", "node_id", r.node.ID, "role", r.node.Role, "host", r.node.Host, "pid", r.node.PID)
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := r.pool.Exec(dctx, `DELETE FROM cluster_nodes WHERE id = $1`, r.node.ID); err != nil {
			r.log.Warn("deregister node", "node_id", r.node.ID, "err", err)
		}
	}()
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.beat(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("node heartbeat failed", "node_id", r.node.ID, "err", err)
		}
	}
}

// beat upserts the node's row and removes the rows of nodes dead for DeadAfter intervals, in one
// statement (served by the primary key and cluster_nodes_heartbeat_idx). A worker whose lease
// session is alive is not dead, however late its heartbeat: its row names the owner of its
// delivery claims (sideeffects.Runner.ReleaseClaims).
func (r *Registration) beat(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, `WITH dead AS (
			DELETE FROM cluster_nodes n WHERE n.heartbeat_at < now() - $6::interval AND n.id <> $1
			  AND NOT taskforge_session_alive(n.lease_pid, n.lease_session_start))
		INSERT INTO cluster_nodes (id, role, host, pid, version) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`,
		r.node.ID, r.node.Role, r.node.Host, r.node.PID, r.node.Version, deadAfter(r.interval))
	return err
}

func deadAfter(interval time.Duration) string {
	return (time.Duration(DeadAfter) * interval).String()
}

// MaxListed bounds Live's list.
const MaxListed = 1000

// Live lists the nodes whose heartbeat is younger than DeadAfter × interval (0: the default),
// oldest first, at most MaxListed.
func Live(ctx context.Context, pool *pgxpool.Pool, interval time.Duration) ([]Node, error) {
	if interval <= 0 {
		interval = DefaultHeartbeat
	}
	// The leases a node holds: through its current lease session, unexpired (served by
	// consumer_leases_node_idx).
	rows, err := pool.Query(ctx, `SELECT n.id, n.role, n.host, n.pid, n.version, n.started_at, n.heartbeat_at,
			coalesce((SELECT json_agg(json_build_object('name', l.name, 'token', l.token, 'acquired_at', l.acquired_at) ORDER BY l.name)
				FROM consumer_leases l WHERE l.node_id = n.id AND l.session_pid = n.lease_pid AND l.expires_at >= now()), '[]')
		FROM cluster_nodes n
		WHERE n.heartbeat_at >= now() - $1::interval ORDER BY n.started_at, n.id LIMIT $2`, deadAfter(interval), MaxListed)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Node, error) {
		var n Node
		err := row.Scan(&n.ID, &n.Role, &n.Host, &n.PID, &n.Version, &n.StartedAt, &n.HeartbeatAt, &n.Consumers)
		return n, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

// Version is the binary's version: its module version, else its VCS revision (and "+dirty").
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
