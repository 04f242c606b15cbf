// Package pgtest gives tests a real PostgreSQL: each test package gets its own migrated database,
// and tests that need a log nobody else writes to (global reads, NOTIFY) get a fresh one of their
// own. Databases are cloned from a migrated template, so a new one costs a file copy, not a migration.
//
// The server is the one named by TEST_DATABASE_URL (any database on it: it is only used to create and
// drop others), else DATABASE_URL, else the local default postgres://postgres@127.0.0.1:5432/postgres.
//
// TEST_PGBOUNCER_URL names a PgBouncer in transaction mode in front of that server (any database:
// its `*` entry must forward every name to the server; scripts/pgbouncer.sh starts one). When it is
// set, the pools that Pool and Open give go through it, in the exec mode database.ChooseExecMode
// picks, as DATABASE_URL's pool does in production; databases are still created, migrated and
// dropped directly, and OpenDirect gives a direct pool for what needs a session (LISTEN). Set it
// only for tests meant to run through PgBouncer (make test-pgbouncer selects them): a test that
// LISTENs on a pool from Open would wait in vain. Tests about PgBouncer itself skip without it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/internal/database"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	adminURL string
	template string // migrated template database of this test binary
	pkgURL   string

	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error

	modeOnce sync.Once
	mode     string // the exec mode of pools through PgBouncer
	modeErr  error
)

// PgBouncerEnv names the PgBouncer that tests go through.
const PgBouncerEnv = "TEST_PGBOUNCER_URL"

// Run creates this package's databases, runs the tests and drops them. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "eventstore")) }
func Run(m *testing.M, pkg string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminURL = serverURL()
	suffix := randomSuffix()
	template = "tf_test_" + pkg + "_tmpl_" + suffix
	if err := createDatabase(ctx, template, ""); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer dropDatabase(template)
	if err := migrate(ctx, withDatabase(adminURL, template)); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	name := "tf_test_" + pkg + "_" + suffix
	if err := createDatabase(ctx, name, template); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer dropDatabase(name)
	pkgURL = withDatabase(adminURL, name)

	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	return code
}

// URL is the connection string of the package's database.
func URL() string { return pkgURL }

// Pool returns the package's shared pool, opened once.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	poolOnce.Do(func() { pool, poolErr = open(t, pkgURL) })
	if poolErr != nil {
		t.Fatalf("pgtest: open pool: %v", poolErr)
	}
	return pool
}

// NewDatabase creates a fresh migrated database for one test and drops it at cleanup. It returns
// its connection string; open pools on it with Open so they are closed before the drop.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "tf_test_" + strings.TrimPrefix(template, "tf_test_") + "_" + randomSuffix()
	name = strings.Replace(name, "_tmpl_", "_", 1)
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	if err := createDatabase(ctx, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return withDatabase(adminURL, name)
}

// Open opens a pool on url that is closed at the test's cleanup (before NewDatabase drops it),
// through PgBouncer when TEST_PGBOUNCER_URL is set.
func Open(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := open(t, url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// OpenDirect is Open straight to the server, never through PgBouncer: for LISTEN and session locks.
func OpenDirect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := database.Open(context.Background(), url, database.PoolOptions{MaxConns: 32})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// PgBouncerURL returns url's database reached through the PgBouncer of TEST_PGBOUNCER_URL; without
// it the test is skipped (make test always sets it for the tests it runs through PgBouncer).
func PgBouncerURL(t testing.TB, url string) string {
	t.Helper()
	if os.Getenv(PgBouncerEnv) == "" {
		t.Skip(PgBouncerEnv + " is not set (make test-pgbouncer starts a PgBouncer and sets it)")
	}
	u, err := throughPgBouncer(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// ExecMode is the exec mode of the pools through PgBouncer (database.ChooseExecMode); empty when
// TEST_PGBOUNCER_URL is not set.
func ExecMode(t testing.TB) string {
	t.Helper()
	if os.Getenv(PgBouncerEnv) == "" {
		return ""
	}
	m, err := execMode()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return m
}

// open opens a pool on url, through PgBouncer when TEST_PGBOUNCER_URL is set.
func open(t testing.TB, url string) (*pgxpool.Pool, error) {
	if os.Getenv(PgBouncerEnv) == "" {
		return database.Open(context.Background(), url, database.PoolOptions{MaxConns: 32})
	}
	u, err := throughPgBouncer(url)
	if err != nil {
		return nil, err
	}
	m, err := execMode()
	if err != nil {
		return nil, err
	}
	return database.Open(context.Background(), u, database.PoolOptions{MaxConns: 32, ExecMode: m})
}

// execMode probes PgBouncer once per test binary, on the package's database.
func execMode() (string, error) {
	modeOnce.Do(func() {
		u, err := throughPgBouncer(pkgURL)
		if err != nil {
			modeErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var p database.Pooling
		mode, p, modeErr = database.ChooseExecMode(ctx, u, database.ExecModeAuto)
		if modeErr == nil && !p.Transaction {
			modeErr = fmt.Errorf("%s does not pool transactions: %s", PgBouncerEnv, p.Reason)
		}
	})
	return mode, modeErr
}

// throughPgBouncer is url's database on the PgBouncer of TEST_PGBOUNCER_URL.
func throughPgBouncer(url string) (string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	return database.WithDatabaseName(os.Getenv(PgBouncerEnv), cfg.Database)
}

func serverURL() string {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return defaultURL
}

func withDatabase(url, name string) string {
	u, err := database.WithDatabaseName(url, name)
	if err != nil {
		panic(fmt.Sprintf("pgtest: bad server url: %v", err))
	}
	return u
}

func createDatabase(ctx context.Context, name, from string) error {
	if err := database.CreateDatabase(ctx, adminURL, name, from); err != nil {
		return fmt.Errorf("%w (is PostgreSQL running? set TEST_DATABASE_URL)", err)
	}
	return nil
}

func dropDatabase(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = database.DropDatabase(ctx, adminURL, name)
}

func migrate(ctx context.Context, url string) error {
	p, err := database.Open(ctx, url, database.PoolOptions{})
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = database.Migrate(ctx, p, nil)
	return err
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
