package projections

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Bulk loading (rebuilds only).
//
// Replaying the live statements costs about 4.5 statements per event over all projections, which
// keeps PostgreSQL CPU-bound at ~10k events/s on two cores. A rebuild's load phase instead folds
// each batch of events in memory and writes the result with a handful of bulk statements per
// table (COPY, and UPDATE/DELETE joined to a COPY-filled temporary table):
//
//	events ──fold (Go, same rules as Apply)──▶ rows in memory, changed ones marked
//	                                             │ per batch, one transaction:
//	                                             ▼
//	             DELETE … USING stage   UPDATE … FROM stage   COPY / INSERT … SELECT FROM stage
//	             + the checkpoint, as before
//
// A folder only starts from an empty version (a fresh build): it then knows every row its tables
// hold, so it needs no reads. A resumed build, and the catch-up and swap phases, use the live
// statements (Apply) on the tables the load left, which are exact after each committed batch.
// Values that PostgreSQL computes in the live statements (tsvectors, format() lines) are computed
// by the same SQL expressions in the bulk statements, so a bulk-built version equals a live-built
// one row for row (the checksum comparisons in the tests hold both paths to it).
type bulkFolder interface {
	// apply folds one event into memory. An error stops the rebuild, as a failing statement would.
	apply(e *Event) error
	// take returns the writes of everything changed since the last take, to run later in one
	// transaction, while folding goes on; the folder's memory then counts them as written. Jobs
	// must run in the order taken, and a failed one fails the rebuild (a rerun resumes from the
	// checkpoint with Apply, never with this memory).
	take() bulkJob
}

// bulkJob is a batch's writes: one step per table, in order.
type bulkJob []func(ctx context.Context, tx pgx.Tx) error

func (j bulkJob) run(ctx context.Context, tx pgx.Tx) error {
	for _, step := range j {
		if err := step(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// taker is what a folder's tables have in common.
type taker interface {
	take() func(ctx context.Context, tx pgx.Tx) error
}

func takeAll(ts ...taker) bulkJob {
	j := make(bulkJob, 0, len(ts))
	for _, t := range ts {
		if step := t.take(); step != nil {
			j = append(j, step)
		}
	}
	return j
}

// bulkTable is the in-memory copy of one read table a folder builds, keyed by primary key.
//
// Rows live in chunks of bulkChunk, found through an index of slot numbers: a million rows are
// then a thousand heap objects rather than a million, which the garbage collector walks much
// faster (measured: marking was a quarter of the load phase's Go time with a pointer per row).
// A row's slot never moves, so a pointer from get or mod stays valid while others are added.
type bulkTable[K comparable, R any] struct {
	base string   // table base name (rm_tasks)
	cols []string // columns values returns, the primary key's first
	pk   int      // number of leading primary key columns in cols
	// computed are extra columns set from the staged row by SQL expressions over alias s, the
	// same expressions the live statements use.
	computed [][2]string
	values   func(k K, r *R) []any

	version int
	types   copyColumns
	index   map[K]int32
	chunks  []*[bulkChunk]bulkRow[K, R]
	free    []int32 // slots of rows deleted and written
	used    int32
	touched []int32
}

const bulkChunk = 1024

type bulkRow[K comparable, R any] struct {
	k                      K
	r                      R
	inDB, deleted, touched bool
}

func newBulkTable[K comparable, R any](version int, base string, cols []string, pk int, values func(K, *R) []any) *bulkTable[K, R] {
	return &bulkTable[K, R]{base: base, cols: cols, pk: pk, values: values, version: version, index: map[K]int32{}}
}

func (t *bulkTable[K, R]) slot(i int32) *bulkRow[K, R] { return &t.chunks[i/bulkChunk][i%bulkChunk] }

// row returns the entry of key k (deleted or not), or nil.
func (t *bulkTable[K, R]) row(k K) *bulkRow[K, R] {
	i, ok := t.index[k]
	if !ok {
		return nil
	}
	return t.slot(i)
}

// get returns the row with key k, or nil; it must not be modified (see mod).
func (t *bulkTable[K, R]) get(k K) *R {
	e := t.row(k)
	if e == nil || e.deleted {
		return nil
	}
	return &e.r
}

// mod returns the row with key k for modification, or nil.
func (t *bulkTable[K, R]) mod(k K) *R {
	i, ok := t.index[k]
	if !ok {
		return nil
	}
	e := t.slot(i)
	if e.deleted {
		return nil
	}
	t.touch(i, e)
	return &e.r
}

// insert adds a row; a row with the same key is an error, as the live INSERT's unique violation.
func (t *bulkTable[K, R]) insert(k K, r R) error {
	if t.get(k) != nil {
		return fmt.Errorf("%s: duplicate key %v", t.base, k)
	}
	t.put(k, r)
	return nil
}

// put inserts or replaces the row with key k.
func (t *bulkTable[K, R]) put(k K, r R) {
	i, ok := t.index[k]
	if !ok {
		switch {
		case len(t.free) > 0:
			i, t.free = t.free[len(t.free)-1], t.free[:len(t.free)-1]
		default:
			if int(t.used) == len(t.chunks)*bulkChunk {
				t.chunks = append(t.chunks, new([bulkChunk]bulkRow[K, R]))
			}
			i = t.used
			t.used++
		}
		*t.slot(i) = bulkRow[K, R]{k: k}
		t.index[k] = i
	}
	e := t.slot(i)
	e.r, e.deleted = r, false
	t.touch(i, e)
}

func (t *bulkTable[K, R]) remove(k K) {
	i, ok := t.index[k]
	if !ok {
		return
	}
	e := t.slot(i)
	if e.deleted {
		return
	}
	e.deleted = true
	t.touch(i, e)
}

func (t *bulkTable[K, R]) touch(i int32, e *bulkRow[K, R]) {
	if !e.touched {
		e.touched = true
		t.touched = append(t.touched, i)
	}
}

// take collects the changed rows, marks them written, and returns their writes: deletes, then
// updates (rows written before), then inserts; nil when nothing changed.
func (t *bulkTable[K, R]) take() func(ctx context.Context, tx pgx.Tx) error {
	if len(t.touched) == 0 {
		return nil
	}
	var del, upd, ins [][]any
	for _, i := range t.touched {
		e := t.slot(i)
		switch {
		case e.deleted && e.inDB:
			del = append(del, t.values(e.k, &e.r)[:t.pk])
		case e.deleted:
		case e.inDB:
			upd = append(upd, t.values(e.k, &e.r))
		default:
			ins = append(ins, t.values(e.k, &e.r))
		}
		if e.deleted {
			delete(t.index, e.k)
			*e = bulkRow[K, R]{}
			t.free = append(t.free, i)
			continue
		}
		e.inDB, e.touched = true, false
	}
	t.touched = t.touched[:0]
	// In key order: inserting into the primary key in order touches its pages one after another
	// rather than at random (measured: 585k uuid keys COPYed in 4.7 s at random, 1.8 s sorted).
	slices.SortFunc(ins, func(a, b []any) int { return compareKeys(a, b, t.pk) })
	return func(ctx context.Context, tx pgx.Tx) error { return t.write(ctx, tx, del, upd, ins) }
}

// compareKeys orders rows by their first n values, as the keys' btree orders them (text only
// approximately: byte order, not the collation's; it only has to be near for the pages).
func compareKeys(a, b []any, n int) int {
	for i := range n {
		var c int
		switch x := a[i].(type) {
		case pgtype.UUID:
			y, _ := b[i].(pgtype.UUID)
			c = bytes.Compare(x.Bytes[:], y.Bytes[:])
		case string:
			y, _ := b[i].(string)
			c = strings.Compare(x, y)
		case int64:
			y, _ := b[i].(int64)
			c = cmp.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// write runs the statements of one take. It reads only t's immutable fields.
func (t *bulkTable[K, R]) write(ctx context.Context, tx pgx.Tx, del, upd, ins [][]any) error {
	table := t.base + suffix(t.version)
	stage := "bulk_" + t.base
	staged := false
	oids, err := t.types.get(ctx, tx, table, t.cols)
	if err != nil {
		return err
	}
	stageRows := func(cols []string, rows [][]any) error {
		if !staged {
			// Without the table's NOT NULL constraints (CREATE TABLE AS): deletes stage keys only.
			if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA`,
				stage, strings.Join(t.cols, ", "), table)); err != nil {
				return fmt.Errorf("stage %s: %w", table, err)
			}
			staged = true
		} else if _, err := tx.Exec(ctx, `TRUNCATE `+stage); err != nil {
			return fmt.Errorf("stage %s: %w", table, err)
		}
		if err := copyIn(ctx, tx, stage, cols, oids[:len(cols)], rows); err != nil {
			return fmt.Errorf("stage %s: %w", table, err)
		}
		return nil
	}
	match := make([]string, t.pk)
	for i, c := range t.cols[:t.pk] {
		match[i] = fmt.Sprintf("t.%[1]s = s.%[1]s", c)
	}
	if len(del) > 0 {
		if err := stageRows(t.cols[:t.pk], del); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s t USING %s s WHERE %s`, table, stage, strings.Join(match, " AND "))); err != nil {
			return fmt.Errorf("bulk delete from %s: %w", table, err)
		}
	}
	if len(upd) > 0 {
		if err := stageRows(t.cols, upd); err != nil {
			return err
		}
		var set []string
		for _, c := range t.cols[t.pk:] {
			set = append(set, fmt.Sprintf("%[1]s = s.%[1]s", c))
		}
		for _, c := range t.computed {
			set = append(set, c[0]+" = "+c[1])
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s t SET %s FROM %s s WHERE %s`, table, strings.Join(set, ", "), stage,
			strings.Join(match, " AND "))); err != nil {
			return fmt.Errorf("bulk update of %s: %w", table, err)
		}
	}
	if len(ins) > 0 {
		if len(t.computed) == 0 {
			if err := copyIn(ctx, tx, table, t.cols, oids, ins); err != nil {
				return fmt.Errorf("bulk insert into %s: %w", table, err)
			}
		} else {
			if err := stageRows(t.cols, ins); err != nil {
				return err
			}
			cols, exprs := append([]string{}, t.cols...), make([]string, 0, len(t.cols)+len(t.computed))
			for _, c := range t.cols {
				exprs = append(exprs, "s."+c)
			}
			for _, c := range t.computed {
				cols, exprs = append(cols, c[0]), append(exprs, c[1])
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s s`, table, strings.Join(cols, ", "),
				strings.Join(exprs, ", "), stage)); err != nil {
				return fmt.Errorf("bulk insert into %s: %w", table, err)
			}
		}
	}
	return nil
}

// bulkCopy is an insert-only table (activity lines, notifications): the rows a batch adds are
// written with one COPY. Folders compute every column in Go (pgFormat for lines, the md5 ids),
// so no row needs an expression. Its key is created after the load (rebuild_keys.go): a
// duplicate fails the rebuild loudly then (the live statements' ON CONFLICT DO NOTHING never
// fires in a fresh build: each event is folded once and folders drop duplicate recipients
// themselves).
type bulkCopy struct {
	table string
	cols  []string
	types copyColumns
	rows  [][]any
}

func newBulkCopy(version int, base string, cols ...string) *bulkCopy {
	return &bulkCopy{table: base + suffix(version), cols: cols}
}

func (b *bulkCopy) add(vals ...any) { b.rows = append(b.rows, vals) }

func (b *bulkCopy) take() func(ctx context.Context, tx pgx.Tx) error {
	rows := b.rows
	if len(rows) == 0 {
		return nil
	}
	b.rows = nil
	return func(ctx context.Context, tx pgx.Tx) error {
		oids, err := b.types.get(ctx, tx, b.table, b.cols)
		if err != nil {
			return err
		}
		if err := copyIn(ctx, tx, b.table, b.cols, oids, rows); err != nil {
			return fmt.Errorf("bulk insert of %d rows into %s: %w", len(rows), b.table, err)
		}
		return nil
	}
}

// pgUUID is id as pgx encodes it directly (binary, no driver.Valuer round trip through text).
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// optUUID is id, or NULL for uuid.Nil.
func optUUID(id uuid.UUID) pgtype.UUID {
	if id == uuid.Nil {
		return pgtype.UUID{}
	}
	return pgUUID(id)
}

// pgFormat is PostgreSQL's format() for the directives the projections' lines use: %<n>$s (the
// n-th argument, never NULL here) and %%. Anything else is an error, so that a new directive
// cannot make a rebuilt line differ silently from the live one, which format() renders.
func pgFormat(f string, args ...string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		n := 0
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			n = n*10 + int(f[j]-'0')
			j++
		}
		if j+1 >= len(f) || f[j] != '$' || f[j+1] != 's' || n < 1 || n > len(args) {
			return "", fmt.Errorf("format %q: unsupported directive at %d", f, i)
		}
		b.WriteString(args[n-1])
		i = j + 1
	}
	return b.String(), nil
}

// wsUser keys the per-workspace people tables.
type wsUser struct {
	ws   uuid.UUID
	user string
}

// bulkPeople is a per-workspace people table (display names) being folded, with the user index a
// rename walks: the tasks, activity and notifications projections each keep one.
type bulkPeople struct {
	*bulkTable[wsUser, string]
	byUser map[string]map[wsUser]struct{}
}

func newBulkPeople(v int, base string) *bulkPeople {
	return &bulkPeople{
		bulkTable: newBulkTable(v, base, []string{"workspace_id", "user_id", "display_name"}, 2,
			func(k wsUser, name *string) []any { return []any{pgUUID(k.ws), k.user, *name} }),
		byUser: map[string]map[wsUser]struct{}{},
	}
}

// joined records user's name in a workspace.
func (p *bulkPeople) joined(k wsUser, name string) {
	p.put(k, name)
	m := p.byUser[k.user]
	if m == nil {
		m = map[wsUser]struct{}{}
		p.byUser[k.user] = m
	}
	m[k] = struct{}{}
}

// renamed updates user's name in every workspace they joined.
func (p *bulkPeople) renamed(user, name string) {
	for k := range p.byUser[user] {
		if n := p.mod(k); n != nil {
			*n = name
		}
	}
}
