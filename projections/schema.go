package projections

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskforge/taskforge/internal/database"
)

// schemaLock serialises schema changes of projections (first creation, rebuild swaps) across
// processes: a transaction-scoped advisory lock.
const schemaLock = `SELECT pg_advisory_xact_lock(hashtextextended('taskforge:projections:schema', 0))`

// Ensure creates version 1 of every projection that has no registry row yet (tables, indexes,
// views, checkpoint at the start of the log). Of an installed projection it only adds the query
// indexes its active version lacks (all are IF NOT EXISTS): a release that adds an index serves
// its query from the first start. Building one holds writes to that table (reads go on) until it
// is built; the projection then catches up.
func Ensure(ctx context.Context, pool *pgxpool.Pool, ps []*Projection) error {
	return database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLock); err != nil {
			return fmt.Errorf("lock projections schema: %w", err)
		}
		for _, p := range ps {
			var v int
			err := tx.QueryRow(ctx, `SELECT active_version FROM projection_versions WHERE name = $1`, p.Name).Scan(&v)
			if err == nil {
				if err := addMissingQueryIndexes(ctx, tx, p, v); err != nil {
					return err
				}
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("projection %s: %w", p.Name, err)
			}
			if err := createVersion(ctx, tx, p, 1, true); err != nil {
				return err
			}
			if err := pointViews(ctx, tx, p, 1); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO projection_versions (name, active_version, active_revision) VALUES ($1, 1, $2)`,
				p.Name, p.revision()); err != nil {
				return fmt.Errorf("register projection %s: %w", p.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ($1, 1)`, p.Name); err != nil {
				return fmt.Errorf("checkpoint of projection %s: %w", p.Name, err)
			}
		}
		return nil
	})
}

// Outdated returns the projections of ps whose active tables are of an older revision than the
// code's (Projection.Revision): their queries may need a column those tables lack, so they must be
// rebuilt (Rebuild records the new revision at the swap) before this release serves reads. A
// newer revision than the code's (an older binary after an upgrade) is not outdated: the tables
// keep what an older release reads.
func Outdated(ctx context.Context, pool *pgxpool.Pool, ps []*Projection) ([]*Projection, error) {
	var out []*Projection
	for _, p := range ps {
		var rev int
		err := pool.QueryRow(ctx, `SELECT active_revision FROM projection_versions WHERE name = $1`, p.Name).Scan(&rev)
		if err != nil {
			return nil, fmt.Errorf("revision of projection %s: %w", p.Name, err)
		}
		if rev < p.revision() {
			out = append(out, p)
		}
	}
	return out, nil
}

// createVersion creates version v's tables, and their query indexes if asked.
func createVersion(ctx context.Context, q database.Beginner, p *Projection, v int, queryIndexes bool) error {
	return database.WithTx(ctx, q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ddl(p.Schema, v)); err != nil {
			return fmt.Errorf("create %s version %d: %w", p.Name, v, err)
		}
		if queryIndexes {
			return createQueryIndexes(ctx, tx, p, v)
		}
		return nil
	})
}

func createQueryIndexes(ctx context.Context, q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, p *Projection, v int) error {
	if p.QueryIndexes == "" {
		return nil
	}
	if _, err := q.Exec(ctx, ddl(p.QueryIndexes, v)); err != nil {
		return fmt.Errorf("create query indexes of %s version %d: %w", p.Name, v, err)
	}
	return nil
}

// indexName finds the index names of a QueryIndexes script.
var indexName = regexp.MustCompile(`(?i)CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)`)

// addMissingQueryIndexes runs the query-index script of version v only if one of its indexes is
// missing. CREATE INDEX IF NOT EXISTS takes its ShareLock on the table before it finds the index
// there, so running it at every process start held every write to the read tables (the live
// projections' commits) until the starting process's transaction ended: a worker joining the
// cluster stalled the others' projections for seconds.
func addMissingQueryIndexes(ctx context.Context, tx pgx.Tx, p *Projection, v int) error {
	var names []string
	for _, m := range indexName.FindAllStringSubmatch(ddl(p.QueryIndexes, v), -1) {
		names = append(names, m[1])
	}
	if len(names) > 0 {
		var missing int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) n WHERE to_regclass(n) IS NULL`, names).Scan(&missing); err != nil {
			return fmt.Errorf("query indexes of %s: %w", p.Name, err)
		}
		if missing == 0 {
			return pendingListsOff(ctx, tx, names)
		}
	}
	return createQueryIndexes(ctx, tx, p, v)
}

// pendingListsOff turns fastupdate off on those of the named GIN indexes made before their
// definitions said so (see rm_tasks' search_idx), merging what their pending lists hold. Once per
// index: ALTER INDEX … SET (fastupdate) takes an AccessExclusiveLock, for a moment.
func pendingListsOff(ctx context.Context, tx pgx.Tx, names []string) error {
	rows, err := tx.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE c.oid = ANY (SELECT to_regclass(n) FROM unnest($1::text[]) n) AND a.amname = 'gin'
		  AND NOT coalesce('fastupdate=off' = ANY (c.reloptions), false)`, names)
	if err != nil {
		return fmt.Errorf("gin indexes: %w", err)
	}
	on, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("gin indexes: %w", err)
	}
	for _, idx := range on {
		if _, err := tx.Exec(ctx, `ALTER INDEX `+pgx.Identifier{idx}.Sanitize()+` SET (fastupdate = off)`); err != nil {
			return fmt.Errorf("gin index %s: %w", idx, err)
		}
		if _, err := tx.Exec(ctx, `SELECT gin_clean_pending_list($1::regclass)`, idx); err != nil {
			return fmt.Errorf("gin index %s: %w", idx, err)
		}
	}
	return nil
}

// pointViews makes each table's view read version v. DROP + CREATE rather than CREATE OR REPLACE:
// a new version may change columns. Inside the caller's transaction the swap is atomic.
func pointViews(ctx context.Context, tx pgx.Tx, p *Projection, v int) error {
	for _, t := range p.Tables {
		sql := fmt.Sprintf(`DROP VIEW IF EXISTS %[1]s; CREATE VIEW %[1]s AS SELECT * FROM %[1]s%[2]s`, t, suffix(v))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("point view %s at version %d: %w", t, v, err)
		}
	}
	return nil
}

// dropVersion drops version v's tables and checkpoint.
func dropVersion(ctx context.Context, pool *pgxpool.Pool, p *Projection, v int) error {
	return database.WithTx(ctx, pool, func(tx pgx.Tx) error {
		for _, t := range p.Tables {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+t+suffix(v)); err != nil {
				return fmt.Errorf("drop %s%s: %w", t, suffix(v), err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1 AND version = $2`, p.Name, v); err != nil {
			return fmt.Errorf("drop checkpoint of %s version %d: %w", p.Name, v, err)
		}
		return nil
	})
}

// activeVersion returns a projection's active version.
func activeVersion(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, name string) (int, error) {
	var v int
	if err := q.QueryRow(ctx, `SELECT active_version FROM projection_versions WHERE name = $1`, name).Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("projection %s is not installed", name)
		}
		return 0, fmt.Errorf("active version of %s: %w", name, err)
	}
	return v, nil
}
