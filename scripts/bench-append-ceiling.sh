#!/usr/bin/env bash
# The ceiling of group commit on this machine, without any client cost: pgbench (PostgreSQL's C
# client) runs, against the events table's shape in a scratch database,
#
#   plain     the plain one-row INSERT + commit of `bench append`'s baseline, from 8 sessions
#   group4x2  the group's INSERT (eventstore's groupAppendSQL, values made by the server) with
#             groups of 4 from 2 sessions: 8 writers in the shape group commit aims for
#   group8x1  groups of 8 from one session
#
# and prints rows/s, the ratio to plain of the same round and rows per WAL flush. `bench append` at
# 8 writers is the same work plus the Go side's: compare its ratio and ev/flush with these.
#
#   scripts/bench-append-ceiling.sh [ROUNDS] [SECONDS]     (defaults 2 and 6; needs bin/taskforge)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-2}
secs=${2:-6}
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)
[ -x "$pgbench" ] || { echo "bench-append-ceiling: pgbench not found (Debian: postgresql-client)" >&2; exit 1; }
[ -x bin/taskforge ] || { echo "bench-append-ceiling: run make build first" >&2; exit 1; }

base=$(scripts/postgres.sh DATABASE_URL postgres)
db="taskforge_ceiling_$$"
# The scratch database's URL: base's, with its database name replaced (never base itself: the
# script migrates what it is given).
if [[ $base =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
  url="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
else
  echo "bench-append-ceiling: not a postgres:// URL: $base" >&2
  exit 1
fi
work=$(mktemp -d)
cleanup() {
  psql -q "$base" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$base" -c "CREATE DATABASE $db" >/dev/null
DATABASE_URL="$url" bin/taskforge migrate >/dev/null
psql -q "$url" -c "CREATE TABLE bench_baseline (LIKE events INCLUDING ALL)" >/dev/null

# A task.created-sized payload and metadata, as bench append's.
data='{"task_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a11","project_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a12","number":42,"key":"TF-42","title":"Ship the read-your-writes consistency token","priority":"high","labels":["backend","api"],"status":"todo"}'
meta='{"actor":"user-bench","correlation_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a13","causation_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a14","workspace_id":"0b5c8c4e-6f0e-4a55-9f1f-2a4d9f0c1a15","request_id":"bench"}'
cat >"$work/plain.sql" <<EOF
\set v random(1, 9000000000000000000)
INSERT INTO bench_baseline (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
  data, metadata, prev_hash, hash, recorded_at)
VALUES ('s-' || :v, 'task', 1, gen_random_uuid(), 'task.created', 1, '$data'::json, '$meta'::json,
  sha256('p'::bytea), sha256('h'::bytea), now());
EOF
group() { # group N: one statement of N one-event appends on fresh streams
  local streams="" i
  for i in $(seq 1 "$1"); do streams="$streams${streams:+, }'$i-' || :v"; done
  cat <<EOF
\set v random(1, 9000000000000000000)
INSERT INTO events (stream_id, stream_type, stream_version, event_id, event_type, schema_version,
                    data, metadata, recorded_at, prev_hash, hash)
SELECT x.sid, 'task', 1, gen_random_uuid(), 'task.created', 1, '$data'::json, '$meta'::json, now(),
       sha256('p'::bytea), sha256('h'::bytea)
FROM unnest(ARRAY[$streams]) WITH ORDINALITY AS x(sid, ord)
WHERE pg_try_advisory_xact_lock(taskforge_stream_lock(x.sid))
ORDER BY x.ord
RETURNING event_id, position, transaction_id::text::bigint;
EOF
}
group 4 >"$work/group4.sql"
group 8 >"$work/group8.sql"

syncs() { psql -Atq "$url" -c "SELECT wal_sync FROM pg_stat_wal"; }

rows() { # rows FILE SESSIONS ROWS_PER_STATEMENT: "rows/s rows-per-WAL-flush" over secs
  local out tps txs s0 s1
  s0=$(syncs)
  # pgbench's sessions end with the run, and a backend adds its WAL counts to pg_stat_wal as it
  # exits: the difference is the run's flushes (the WAL writer's, and any other session's, too).
  out=$("$pgbench" -n -M prepared -T "$secs" -c "$2" -j "$2" -f "$work/$1.sql" "$url" 2>/dev/null)
  s1=$(syncs)
  tps=$(awk '/^tps/ {print $3}' <<<"$out")
  txs=$(awk '/actually processed/ {print $NF}' <<<"$out")
  awk -v t="$tps" -v x="$txs" -v n="$3" -v f="$((s1 - s0))" \
    'BEGIN {printf "%.0f %.1f\n", t * n, (f > 0 ? x * n / f : 0)}'
}
# ev/flush: rows per WAL flush. A commit waits for its WAL's flush, which takes every commit
# waiting at that moment: where flushes bound the rate, rows/s follow rows per flush.
printf '%-6s %10s %9s %10s %7s %9s %10s %7s %9s\n' round plain ev/flush group4x2 ratio ev/flush group8x1 ratio ev/flush
for r in $(seq 1 "$rounds"); do
  read -r p pf < <(rows plain 8 1)
  read -r g4 g4f < <(rows group4 2 4)
  read -r g8 g8f < <(rows group8 1 8)
  awk -v r="$r" -v p="$p" -v g4="$g4" -v g8="$g8" -v pf="$pf" -v g4f="$g4f" -v g8f="$g8f" \
    'BEGIN {printf "%-6s %10d %9.1f %10d %7.2f %9.1f %10d %7.2f %9.1f\n", r, p, pf, g4, g4 / p, g4f, g8, g8 / p, g8f}'
done
