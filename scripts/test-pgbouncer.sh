#!/usr/bin/env bash
# make test-pgbouncer: test sets through a PgBouncer in transaction mode (scripts/pgbouncer.sh),
# with its files under .data/pgbouncer-test and stopped afterwards.
#
#   scripts/test-pgbouncer.sh 'GO TEST ARGS' ['GO TEST ARGS'...]   each quoted set is one `go test`
#
# If a set fails because PgBouncer itself exited under it (its pid file left behind: a crash or a
# kill, not a refusal), the end of its log is printed and the set runs once more on a new PgBouncer:
# Debian 12's PgBouncer 1.18 once exited in CI with the tests' connections open, and a crash of the
# pooler is then reported as such. A set that fails with PgBouncer running fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
export PGBOUNCER_DATA="$root/.data/pgbouncer-test"
TEST_DATABASE_URL=$(scripts/postgres.sh TEST_DATABASE_URL postgres)
export TEST_DATABASE_URL
trap 'scripts/pgbouncer.sh stop' EXIT

bouncer=$(scripts/pgbouncer.sh start)
echo "taskforge: testing through PgBouncer at $bouncer"
for set in "$@"; do
  read -r -a args <<<"$set"
  if TEST_PGBOUNCER_URL="$bouncer" "$GO" test "${args[@]}"; then
    continue
  fi
  scripts/pgbouncer.sh died || exit 1
  echo "test-pgbouncer: PgBouncer exited during 'go test $set'; running it again on a new one" >&2
  bouncer=$(scripts/pgbouncer.sh start)
  TEST_PGBOUNCER_URL="$bouncer" "$GO" test "${args[@]}"
done
