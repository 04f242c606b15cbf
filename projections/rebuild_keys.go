package projections

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/taskforge/taskforge/internal/database"
)

// Deferred keys.
//
// The load phase appends to insert-only tables (activity lines, notifications: bulkCopy) with
// COPY. Their primary keys are random (uuids) or interleave workspaces, so maintaining them row by
// row cost more than the COPY itself (1M events: 818k activity lines in 4.4 s with the key, 2.3 s
// loading then adding it; 585k notifications 3.4 s against 1.3 s). A fresh build therefore drops
// the indexes of those tables after creating them, and the index phase creates them again, with
// the query indexes, before anything else (catch-up, swap) writes there. A resumed build creates
// them first, as Apply's statements (ON CONFLICT) need them. A duplicate key the live statements
// would have refused fails the rebuild when the key is created, just as loudly.
//
// What to create again is what Schema creates: keyDefs runs Schema for a scratch version inside
// a savepoint that it rolls back, and reads the definitions from the catalog, so a change to
// Schema never needs a second list here.

// insertOnlyTables is implemented by folders that write some tables only with COPY.
type insertOnlyTables interface {
	insertOnly() []string // base names
}

// probeVersion is the scratch version keyDefs creates and rolls back.
const probeVersion = 999_999_999

// keyDef is one index (or the constraint it backs) of a table, as Schema creates it.
type keyDef struct {
	table, index string // with the version's suffix
	create, drop string
}

// keyDefs returns the indexes Schema creates on p's tables named in bases, for version v.
func keyDefs(ctx context.Context, tx pgx.Tx, p *Projection, v int, bases []string) ([]keyDef, error) {
	if len(bases) == 0 {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `SAVEPOINT key_probe`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, ddl(p.Schema, probeVersion)); err != nil {
		return nil, fmt.Errorf("probe %s schema: %w", p.Name, err)
	}
	probe, real := suffix(probeVersion), suffix(v)
	var out []keyDef
	for _, base := range bases {
		rows, err := tx.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
			FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
			WHERE i.indrelid = $1::regclass ORDER BY i.indexrelid`, base+probe)
		if err != nil {
			return nil, fmt.Errorf("probe %s keys: %w", base, err)
		}
		for rows.Next() {
			var index, indexDef string
			var conName, conDef *string
			if err := rows.Scan(&index, &indexDef, &conName, &conDef); err != nil {
				rows.Close()
				return nil, err
			}
			table := base + real
			d := keyDef{table: table, index: strings.ReplaceAll(index, probe, real)}
			if conName != nil {
				name := strings.ReplaceAll(*conName, probe, real)
				d.create = fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, table, name, *conDef)
				d.drop = fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, table, name)
			} else {
				d.create = strings.ReplaceAll(indexDef, probe, real)
				d.drop = `DROP INDEX ` + d.index
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT key_probe`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT key_probe`); err != nil {
		return nil, err
	}
	return out, nil
}

// dropKeys drops the deferred indexes of a version just created.
func dropKeys(ctx context.Context, tx pgx.Tx, defs []keyDef) error {
	for _, d := range defs {
		if _, err := tx.Exec(ctx, d.drop); err != nil {
			return fmt.Errorf("defer %s: %w", d.index, err)
		}
	}
	return nil
}

// restoreKeys creates the deferred indexes that do not exist.
func restoreKeys(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}, defs []keyDef) error {
	for _, d := range defs {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, d.index).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := q.Exec(ctx, d.create); err != nil {
			return fmt.Errorf("create %s: %w", d.index, err)
		}
	}
	return nil
}

// index creates a loaded version's deferred keys and query indexes, then gathers planner
// statistics. The query indexes of a table are built at once on several connections (CREATE
// INDEX takes a SHARE lock, which does not conflict with itself): one script after another, the
// tasks projection's twelve indexes were the index phase's long tail, on one core. slots bounds
// the statements running at once over all projections.
func (b *build) index(ctx context.Context, pool *pgxpool.Pool, slots chan struct{}, log *slog.Logger) error {
	start := time.Now()
	// ADD PRIMARY KEY locks its table exclusively: before the query indexes.
	if err := indexTx(ctx, pool, func(tx pgx.Tx) error { return restoreKeys(ctx, tx, b.keys) }); err != nil {
		return err
	}
	keyed := time.Now()
	run := func(g *errgroup.Group, sql string) {
		g.Go(func() error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-slots }()
			return indexTx(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, sql)
				return err
			})
		})
	}
	var g errgroup.Group
	for _, stmt := range splitStatements(ddl(b.p.QueryIndexes, b.version)) {
		run(&g, stmt)
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("create query indexes of %s version %d: %w", b.p.Name, b.version, err)
	}
	indexed := time.Now()
	// Planner statistics before the version serves: without them (autovacuum has not seen the
	// new tables yet) the planner takes them for empty and, e.g., reads a whole change table
	// instead of a page of its since index (measured: 3,036 rows and 12 ms for a page of sync
	// records, 2.6 ms with statistics).
	var ga errgroup.Group
	for _, t := range b.p.Tables {
		run(&ga, `ANALYZE `+t+suffix(b.version))
	}
	if err := ga.Wait(); err != nil {
		return fmt.Errorf("analyze %s version %d: %w", b.p.Name, b.version, err)
	}
	log.Debug("rebuild index phase", "projection", b.p.Name, "keys", keyed.Sub(start), "query_indexes", indexed.Sub(keyed),
		"analyze", time.Since(indexed))
	return nil
}

// indexMemory is the index phase's maintenance_work_mem: with the default (64MB) the sort of
// a large key spills to disk (1M events: the 818k-row key of rm_activity took 1.42 s of
// PostgreSQL CPU, 0.93 s in memory). At most GOMAXPROCS+1 statements use it at once.
const indexMemory = "256MB"

// indexTx runs f in a transaction with the index phase's settings.
func indexTx(ctx context.Context, pool *pgxpool.Pool, f func(pgx.Tx) error) error {
	return database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '`+indexMemory+`'`); err != nil {
			return err
		}
		return f(tx)
	})
}

// splitStatements splits a DDL script of the projections (-- comments on lines of their own,
// statements ended by semicolons, none inside a statement) into its statements.
func splitStatements(script string) []string {
	var code []string
	for _, l := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			code = append(code, l)
		}
	}
	var out []string
	for _, stmt := range strings.Split(strings.Join(code, "\n"), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
