#!/usr/bin/env bash
# Runs clients/test (standard GraphQL clients from npm: graphql-js, urql, graphql-ws,
# graphql-codegen) against a real `taskforge serve`:
#
#   1. builds bin/taskforge; installs the pinned npm packages (npm ci, skipped while
#      clients/test/node_modules matches package-lock.json);
#   2. creates a fresh database on the PostgreSQL that scripts/postgres.sh finds (TEST_DATABASE_URL
#      or a local one), named per run;
#   3. starts the server on a free loopback port (metrics off) with a generated JWT secret,
#      issuer, audience, webhook key and a test origin in CORS_ORIGINS, and waits for /readyz;
#   4. runs `node --test` (arguments to this script go to it, e.g. a single test file);
#   5. stops the server and drops the database, whatever happened (trap).
#
# Needs Node.js 20 or later with npm, and the npm registry on the first run. It fails, never
# skips, when they are missing: `make test` must not pass without having run it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
clients="$root/clients/test"
log() { echo "client-tests: $*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "Node.js (20 or later) and npm are required: https://nodejs.org or apt-get install nodejs npm"
  exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  log "Node.js 20 or later is required, found $(node --version)"
  exit 1
fi
if ! command -v psql >/dev/null 2>&1; then
  log "psql is required to create the test database (apt-get install postgresql-client)"
  exit 1
fi

run="clients_$(date +%Y%m%d%H%M%S)_$$"
work="$root/.data/client-tests/$run"
mkdir -p "$work"
server_pid=""
db_created=""
admin_url=""
failed=1

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$db_created" ]; then
    psql "$admin_url" -qc "drop database if exists \"$run\" with (force)" >/dev/null 2>&1 ||
      log "could not drop database $run"
  fi
  if [ "$failed" = 0 ]; then
    rm -rf "$work"; rmdir "$root/.data/client-tests" 2>/dev/null || true
  elif [ -s "$work/server.log" ]; then
    log "server log (last 40 lines of $work/server.log):"
    tail -n 40 "$work/server.log" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The binary and the npm packages.
(cd "$root" && ${GO:-go} build -o bin/taskforge ./cmd/taskforge)
stamp="$clients/node_modules/.taskforge-lock"
lock_sum=$(sha256sum "$clients/package-lock.json" "$clients/package.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  log "npm ci (clients/test)"
  (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi

# 2. A database of this run's own.
admin_url=$("$root/scripts/postgres.sh" TEST_DATABASE_URL postgres)
psql "$admin_url" -qc "create database \"$run\"" >/dev/null
db_created=1
# The same server and options, with the path (the database name) replaced.
db_url=$(printf '%s' "$admin_url" | sed -E "s#^([a-z]+://[^/?]*)(/[^?]*)?#\1/$run#")

# 3. The server. HTTP_ADDR port 0: the kernel picks a free port, read back from the log.
: >"$work/server.log"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cors_origin="http://app.client-test.localhost:5173"
issuer="taskforge-client-tests"
audience="taskforge-api"
DATABASE_URL="$db_url" HTTP_ADDR=127.0.0.1:0 METRICS_ADDR= \
  JWT_SECRET="$secret" JWT_ISSUER="$issuer" JWT_AUDIENCE="$audience" \
  WEBHOOK_SECRET_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  CORS_ORIGINS="$cors_origin" LOG_LEVEL=info LOG_FORMAT=text SHUTDOWN_TIMEOUT=5s \
  "$root/bin/taskforge" serve >"$work/server.log" 2>&1 &
server_pid=$!

addr=""
for _ in $(seq 1 300); do
  addr=$(sed -nE 's/.*msg="http listening" addr=([0-9.:]+).*/\1/p' "$work/server.log" | head -n1 || true)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { log "taskforge serve exited"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { log "taskforge serve did not start listening within 30 s"; exit 1; }
base="http://$addr"
node -e '
  const url = process.argv[1] + "/readyz", until = Date.now() + 30000;
  (async () => {
    for (;;) {
      try { if ((await fetch(url)).ok) return; } catch {}
      if (Date.now() > until) { console.error("client-tests: " + url + " not ready within 30 s"); process.exit(1); }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();' "$base"
log "server at $base, database $run"

# 4. The tests.
cd "$clients"
[ $# -gt 0 ] || set -- *.test.mjs
TASKFORGE_URL="$base" TASKFORGE_JWT_SECRET="$secret" TASKFORGE_JWT_ISSUER="$issuer" \
  TASKFORGE_JWT_AUDIENCE="$audience" TASKFORGE_CORS_ORIGIN="$cors_origin" \
  node --test --test-reporter=spec --test-timeout=60000 "$@"
failed=0
