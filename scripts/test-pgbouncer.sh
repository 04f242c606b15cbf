#!/usr/bin/env bash
# make test-pgbouncer: test sets through a PgBouncer in transaction mode (scripts/pgbouncer.sh),
# with its files under .data/pgbouncer-test and stopped afterwards.
#
#   scripts/test-pgbouncer.sh 'GO TEST ARGS' ['GO TEST ARGS'...]   each quoted set is one `go test`
#
# If a set fails because PgBouncer itself exited under it, the end of its log is printed and the
# set runs again on a new PgBouncer, twice at most. Debian 12's PgBouncer 1.18 does exit under
# these tests now and then (2 of 11 runs here): "FATAL server_proto: server in bad state: 11" just
# after a cancel request, in the projections' tests that terminate sessions and cancel queries
# mid-flight (pgbouncer/pgbouncer#822, fixed by #927 after 1.19). A set that fails with PgBouncer
# running fails the run.
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
  for try in 1 2 3; do
    if TEST_PGBOUNCER_URL="$bouncer" "$GO" test "${args[@]}"; then
      continue 2
    fi
    [ "$try" -lt 3 ] && scripts/pgbouncer.sh died || exit 1
    echo "test-pgbouncer: PgBouncer exited during 'go test $set'; running it again on a new one" >&2
    bouncer=$(scripts/pgbouncer.sh start)
  done
done
