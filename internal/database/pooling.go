package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Exec modes a pool can run in: pgx's names, and ExecModeAuto. pgx's exec and simple_protocol
// modes are left out: they encode []byte parameters as bytea, which breaks jsonb columns.
const (
	// ExecModeAuto probes the server (ProbePooling) and keeps pgx's statement cache unless a
	// transaction pooler would lose the cached statements, in which case it caches descriptions.
	ExecModeAuto = "auto"
	// ExecModeCacheStatement prepares each statement once per connection (pgx's default): it
	// needs a session, or PgBouncer 1.21 or later with max_prepared_statements > 0.
	ExecModeCacheStatement = "cache_statement"
	// ExecModeCacheDescribe caches statement descriptions and sends each query as an unnamed
	// statement with its parameters in one round trip: correct through any transaction pooler,
	// at the cost of a parse and plan per execution.
	ExecModeCacheDescribe = "cache_describe"
	// ExecModeDescribeExec describes every statement before running it (two round trips).
	ExecModeDescribeExec = "describe_exec"
)

// ExecModes are the values an exec mode setting accepts.
var ExecModes = []string{ExecModeAuto, ExecModeCacheStatement, ExecModeCacheDescribe, ExecModeDescribeExec}

// ParseExecMode checks an exec mode's name.
func ParseExecMode(s string) (string, error) {
	for _, m := range ExecModes {
		if s == m {
			return s, nil
		}
	}
	return "", fmt.Errorf("want one of %s, got %q", strings.Join(ExecModes, ", "), s)
}

func pgxExecMode(s string) (pgx.QueryExecMode, bool) {
	switch s {
	case ExecModeCacheStatement:
		return pgx.QueryExecModeCacheStatement, true
	case ExecModeCacheDescribe:
		return pgx.QueryExecModeCacheDescribe, true
	case ExecModeDescribeExec:
		return pgx.QueryExecModeDescribeExec, true
	}
	return 0, false
}

// Pooling is what ProbePooling learnt about the connections a URL gives.
type Pooling struct {
	// Transaction: two client connections used the same server session, one after the other: a
	// pooler in transaction (or statement) mode sits in between, so nothing that lives in a
	// session (LISTEN, session advisory locks, SET) can be used through this URL.
	Transaction bool
	// PreparedStatements: a protocol-level prepared statement still ran after its connection
	// moved to another server session (PgBouncer 1.21+ with max_prepared_statements > 0).
	// Meaningful only when Transaction.
	PreparedStatements bool
	// Reason says what was seen, for the log.
	Reason string
}

// probeStatement names the prepared statement the probe moves between server sessions. Each probe
// has a name of its own: behind a pooler that leaves statements on server sessions, another
// process's probe may have left one of the same name on the session this one lands on.
func probeStatement() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "taskforge_pooling_probe_" + hex.EncodeToString(b)
}

// losesStatements is the probe's reason for a pooler that loses prepared statements.
const losesStatements = "transaction pooler that loses prepared statements between server sessions (PgBouncer before 1.21, or max_prepared_statements = 0)"

// The probe's bounds: connections held per round, rounds.
const (
	probeHolders = 3
	probeRounds  = 5
)

// ProbePooling finds out whether url leads through a transaction pooler and, if so, whether
// protocol-level prepared statements survive it. PgBouncer answers SHOW VERSION only on its admin
// console, which an application's user may not reach, so the probe watches behaviour instead.
//
// Connection A prepares a statement returning pg_backend_pid(). If the server sees A's own TCP
// connection (A's address, on the port A connected to), nothing is in between: done. Otherwise A runs the statement: server
// session S (a pooler that already moved A elsewhere answers "does not exist"). Then, in
// up to five rounds, connections B₁..B₃ each open a transaction and read their backend pid (a
// pooler hands the session A just released to the next client; PgBouncer's default LIFO order
// makes that the first one), then A runs its statement again. A transaction pooler shows itself
// when A lands on another session, which it must while a B holds S: "prepared statement does not
// exist" means it does not carry prepared statements, an answer from the other session means it
// does. A connection that keeps its session through all rounds is not transaction-pooled.
func ProbePooling(ctx context.Context, url string) (Pooling, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return Pooling{}, fmt.Errorf("parse database url: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Pooling{}, fmt.Errorf("connect: %w", err)
	}
	defer a.Close(context.WithoutCancel(ctx))
	stmt := probeStatement()
	if _, err := a.Prepare(ctx, stmt, `SELECT pg_backend_pid()`); err != nil {
		return Pooling{}, fmt.Errorf("pooling probe: %w", err)
	}
	var session int32
	var seen serverView
	if err := a.QueryRow(ctx, `SELECT pg_backend_pid(), host(inet_client_addr()), inet_client_port()::text,
		inet_server_port()::text`, pgx.QueryExecModeSimpleProtocol).Scan(
		&session, &seen.clientAddr, &seen.clientPort, &seen.serverPort); err != nil {
		return Pooling{}, fmt.Errorf("pooling probe: %w", err)
	}
	// Over TCP the server sees the connection of whoever connected to it: this one when nothing is
	// in between, a pooler's otherwise (decisive: PgBouncer 1.18 was seen handing a client the
	// backend key data of the server session it started on). Over a Unix socket there is no
	// address: a pooler answers with backend key data of its own, so the session's pid differs
	// from the one this connection was given.
	if local, ok := a.PgConn().Conn().LocalAddr().(*net.TCPAddr); ok {
		if remote, ok := a.PgConn().Conn().RemoteAddr().(*net.TCPAddr); ok && seen.is(local, remote) {
			return Pooling{Reason: "the server sees this connection's own address: nothing in between"}, nil
		}
	} else if a.PgConn().PID() == uint32(session) {
		return Pooling{Reason: "the server session's pid is the one this connection was given: nothing in between"}, nil
	}
	// S is the session the statement lives on, which the query above need not have run on: behind
	// a transaction pooler another client may have taken S in between (taking the query's session
	// for S once made a statement found back on S look carried to another session).
	if err := a.QueryRow(ctx, stmt).Scan(&session); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "26000" { // moved already, without the statement
			return Pooling{Transaction: true, Reason: losesStatements}, nil
		}
		return Pooling{}, fmt.Errorf("pooling probe: %w", err)
	}
	holders := make([]*pgx.Conn, probeHolders)
	defer func() {
		for _, b := range holders {
			if b != nil {
				b.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for range probeRounds {
		// The holders' transactions, one at a time, until one is on A's session.
		var holder *pgx.Conn
		for i := range holders {
			if holders[i] == nil {
				if holders[i], err = pgx.ConnectConfig(ctx, cfg); err != nil {
					return Pooling{}, fmt.Errorf("connect: %w", err)
				}
			}
			b := holders[i]
			// Simple protocol: the holders prepare nothing of their own.
			if _, err := b.Exec(ctx, `BEGIN`, pgx.QueryExecModeSimpleProtocol); err != nil {
				return Pooling{}, fmt.Errorf("pooling probe: %w", err)
			}
			var pid int32
			if err := b.QueryRow(ctx, `SELECT pg_backend_pid()`, pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
				return Pooling{}, fmt.Errorf("pooling probe: %w", err)
			}
			if pid == session {
				holder = b
				break
			}
		}
		// With S held, a pooler may have no other session to give A (its pool is full): waiting
		// for one says nothing, so give up after a while and assume the worst.
		qctx, qcancel := context.WithTimeout(ctx, 3*time.Second)
		var now int32
		err = a.QueryRow(qctx, stmt).Scan(&now)
		qcancel()
		var pgErr *pgconn.PgError
		switch {
		case err == nil && now != session:
			return Pooling{Transaction: true, PreparedStatements: true,
				Reason: "transaction pooler that carries prepared statements between server sessions (PgBouncer 1.21+ with max_prepared_statements)"}, nil
		case errors.As(err, &pgErr) && pgErr.Code == "26000": // invalid_sql_statement_name
			if holder != nil {
				// The statement stays on S, which outlives this connection: the holder is on S,
				// and this pooler tracks no statements that this could upset.
				_, _ = holder.Exec(ctx, `DEALLOCATE `+stmt, pgx.QueryExecModeSimpleProtocol)
			}
			return Pooling{Transaction: true, Reason: losesStatements}, nil
		case err != nil && ctx.Err() != nil:
			return Pooling{}, fmt.Errorf("pooling probe: %w", err)
		case err != nil && holder != nil:
			return Pooling{Transaction: true,
				Reason: fmt.Sprintf("transaction pooler; a prepared statement could not be run on another server session (%v)", err)}, nil
		case err != nil:
			return Pooling{}, fmt.Errorf("pooling probe: %w", err)
		}
		for _, b := range holders {
			if b != nil {
				if _, err := b.Exec(ctx, `ROLLBACK`, pgx.QueryExecModeSimpleProtocol); err != nil {
					return Pooling{}, fmt.Errorf("pooling probe: %w", err)
				}
			}
		}
	}
	// A pooler that never moved this connection to another session while the probe looked: it
	// was not seen carrying prepared statements, so assume it does not (the safe mode).
	return Pooling{Transaction: true,
		Reason: "a pooler in between, not seen carrying prepared statements between sessions"}, nil
}

// serverView is a connection as the server sees it (inet_client_addr and _port,
// inet_server_port; NULL over a Unix socket).
type serverView struct {
	clientAddr, clientPort, serverPort *string
}

// is reports whether the server's connection is the one from local to remote: the server sees
// local as its client, on remote's port. The client's end alone is not enough: a pooler on the
// same host reaches the server from a port of its own, which the kernel may also have given this
// connection to the pooler (a local port is unique per destination, not per host: seen once in
// some twenty starts of make cluster, whose probe then took PgBouncer 1.18 for PostgreSQL), and
// then the server's port is not the pooler's. The server's address may differ from remote's
// without a pooler (a Kubernetes service, DNAT), so only its port counts.
func (v serverView) is(local, remote *net.TCPAddr) bool {
	return v.clientAddr != nil && v.clientPort != nil && v.serverPort != nil &&
		net.ParseIP(*v.clientAddr).Equal(local.IP) && *v.clientPort == strconv.Itoa(local.Port) &&
		*v.serverPort == strconv.Itoa(remote.Port)
}

// ChooseExecMode resolves an exec mode setting for url: a mode named in the url
// (default_query_exec_mode) or a setting other than auto is kept; auto probes the server.
func ChooseExecMode(ctx context.Context, url, setting string) (mode string, p Pooling, err error) {
	if strings.Contains(url, "default_query_exec_mode") {
		return "", Pooling{Reason: "default_query_exec_mode set in the database url"}, nil
	}
	if setting != ExecModeAuto {
		return setting, Pooling{Reason: "set by configuration"}, nil
	}
	if p, err = ProbePooling(ctx, url); err != nil {
		return "", p, err
	}
	if p.Transaction && !p.PreparedStatements {
		return ExecModeCacheDescribe, p, nil
	}
	return ExecModeCacheStatement, p, nil
}

// PoolsOptions describe the two pools of a service: one for transactions, possibly through a
// transaction pooler, and one for what needs a session of its own.
type PoolsOptions struct {
	// URL serves every transaction; it may lead through PgBouncer in transaction mode.
	URL string
	// DirectURL serves LISTEN, session advisory locks and migrations; empty: URL.
	DirectURL string
	// ExecMode is URL's pool's exec mode (ExecModes; empty: pgx's default). The direct pool
	// always caches statements: it has sessions of its own.
	ExecMode string
	// MaxConns and DirectMaxConns bound each pool (zero: the url's or pgx's default).
	MaxConns, DirectMaxConns int32
	Tracer                   pgx.QueryTracer
	// Logger receives the exec mode chosen and why.
	Logger *slog.Logger
}

// Pools are a service's pools. Direct is Pool when both URLs are the same.
type Pools struct {
	Pool   *pgxpool.Pool
	Direct *pgxpool.Pool
	// ExecMode is Pool's exec mode as pgx names it.
	ExecMode string
	Pooling  Pooling
}

// Close closes both pools.
func (p *Pools) Close() {
	p.Pool.Close()
	if p.Direct != p.Pool {
		p.Direct.Close()
	}
}

// ErrPoolerNeedsDirectURL is OpenPools' refusal of a transaction pooler without a direct URL.
var ErrPoolerNeedsDirectURL = errors.New("DATABASE_URL leads through a transaction pooler: set DATABASE_DIRECT_URL to a direct connection to PostgreSQL (LISTEN, session locks and migrations need a session of their own)")

// ErrDirectURLPooled is OpenPools' refusal of a direct URL that leads through a transaction pooler.
var ErrDirectURLPooled = errors.New("DATABASE_DIRECT_URL leads through a transaction pooler: point it at PostgreSQL itself (LISTEN, session locks and migrations need a session of their own)")

// OpenPools opens the pool on URL in the exec mode the options choose and, when DirectURL differs,
// a second pool on it. With ExecModeAuto it also probes DirectURL, and refuses a transaction
// pooler where a session is needed: DirectURL behind one, or URL behind one with no DirectURL.
func OpenPools(ctx context.Context, o PoolsOptions) (_ *Pools, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.DirectURL == "" {
		o.DirectURL = o.URL
	}
	mode, pooling := o.ExecMode, Pooling{}
	if mode != "" {
		if mode, pooling, err = ChooseExecMode(ctx, o.URL, o.ExecMode); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		if pooling.Transaction && o.DirectURL == o.URL {
			return nil, ErrPoolerNeedsDirectURL
		}
		if o.DirectURL != o.URL && o.ExecMode == ExecModeAuto {
			direct, err := ProbePooling(ctx, o.DirectURL)
			if err != nil {
				return nil, fmt.Errorf("direct database url: %w", err)
			}
			if direct.Transaction {
				return nil, ErrDirectURLPooled
			}
		}
	}
	ps := &Pools{Pooling: pooling}
	ps.Pool, err = Open(ctx, o.URL, PoolOptions{MaxConns: o.MaxConns, Tracer: o.Tracer, ExecMode: mode})
	if err != nil {
		return nil, err
	}
	ps.ExecMode = execModeName(ps.Pool.Config().ConnConfig.DefaultQueryExecMode)
	if o.ExecMode != "" {
		log.Info("database statement cache", "exec_mode", ps.ExecMode, "setting", o.ExecMode, "reason", pooling.Reason)
	}
	if o.DirectURL == o.URL {
		ps.Direct = ps.Pool
		return ps, nil
	}
	ps.Direct, err = Open(ctx, o.DirectURL, PoolOptions{MaxConns: o.DirectMaxConns, Tracer: o.Tracer})
	if err != nil {
		ps.Pool.Close()
		return nil, fmt.Errorf("direct database url: %w", err)
	}
	return ps, nil
}

func execModeName(m pgx.QueryExecMode) string {
	return strings.ReplaceAll(m.String(), " ", "_")
}
