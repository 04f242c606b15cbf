// Package database owns the connection pool, schema migrations and the one transaction helper that
// every SQL-speaking package uses.
package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/taskforge/taskforge/migrations"
)

// PoolOptions tune a pool beyond what the url says. Zero values keep the url's (or pgx's) settings.
type PoolOptions struct {
	MaxConns int32
	Tracer   pgx.QueryTracer
	// ExecMode is a pgx exec mode by name (ExecModeCacheStatement, ...; ChooseExecMode resolves
	// ExecModeAuto). Empty: the url's default_query_exec_mode, else pgx's cache_statement.
	ExecMode string
}

// Open parses url, connects a pool and checks that the server answers.
//
// The query exec mode is pgx's default (cache_statement) unless opts or the url name another;
// behind a transaction pooler that loses prepared statements it must be cache_describe
// (ChooseExecMode). DESIGN.md records that the exec and simple_protocol modes encode []byte as
// bytea and break jsonb parameters.
func Open(ctx context.Context, url string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if opts.ExecMode != "" {
		m, ok := pgxExecMode(opts.ExecMode)
		if !ok {
			return nil, fmt.Errorf("database exec mode: want one of cache_statement, cache_describe, describe_exec, got %q", opts.ExecMode)
		}
		cfg.ConnConfig.DefaultQueryExecMode = m
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Migrate applies every pending migration. A PostgreSQL advisory lock held for the whole run makes
// concurrent callers (two instances starting at once) wait for each other instead of racing. That
// lock belongs to a session: pool must be a direct one (Pools.Direct), never one through a
// transaction pooler, which would run the lock and its unlock on different server sessions.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) ([]*goose.MigrationResult, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration locker: %w", err)
	}
	sqlFS, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, sqlFS, opts...)
	if err != nil {
		return nil, fmt.Errorf("migration provider: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return results, fmt.Errorf("migrate: %w", err)
	}
	return results, nil
}

// Beginner is what WithTx needs: a pool, a connection or a transaction (which nests as a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// WithTx runs fn in a transaction and commits if fn returns nil. The rollback runs on a context that
// is not cancelled, so a cancelled request never leaves a connection inside an open transaction.
func WithTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) && err == nil {
			err = fmt.Errorf("rollback: %w", rbErr)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// WithDatabaseName returns url pointing at database name on the same server, as a keyword/value
// connection string that keeps host, port, user and password whatever form url had.
func WithDatabaseName(url, name string) (string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	quote := func(v string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	s := fmt.Sprintf("host=%s port=%d user=%s dbname=%s", quote(cfg.Host), cfg.Port, quote(cfg.User), quote(name))
	if cfg.Password != "" {
		s += " password=" + quote(cfg.Password)
	}
	if cfg.TLSConfig == nil {
		s += " sslmode=disable"
	}
	return s, nil
}

// CreateDatabase creates database name on the server of adminURL, as a copy of template if given.
func CreateDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	// CREATE DATABASE ... TEMPLATE fails while another session copies the same template: retry.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, sql)
		if err == nil || attempt == 100 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name, disconnecting its sessions.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
