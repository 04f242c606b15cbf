#!/usr/bin/env bash
# make test-cluster: scripts/cluster.sh end to end, the way a newcomer uses make cluster.
#
#   1. starts it in the background under a name of this checkout's own (CLUSTER_NAME=
#      cluster-smoke-K, K a checksum of the checkout's path: database taskforge_cluster_smoke_K,
#      dropped before and after, .data/cluster-smoke-K, .data/pgbouncer-cluster-smoke-K) on ports
#      from CLUSTER_SMOKE_PORT_BASE (default 20000 + 8 × (K mod 1000)), so that it never meets a
#      developer's running cluster nor the test of another checkout on the same PostgreSQL; with
#      secrets of its own;
#   2. waits until both APIs answer /readyz and `taskforge nodes --json` lists the 4 processes it
#      started (2 api, 2 workers, by pid), and checks that each saw PgBouncer as a transaction
#      pooler (its exec mode's reason);
#   3. asks each API who the caller is, creates a workspace through api-1 and reads it through
#      api-2 with the mutation's consistency token (so a worker must have projected it);
#   4. sends SIGINT to the script's process group, as Ctrl-C in a terminal does, and checks that
#      it exits 0, that none of its processes is left, that PgBouncer is gone and that no node is
#      registered any more.
# Everything it started is stopped and the database dropped whatever happened (trap); on failure
# it prints the cluster's output. It takes 5 to 10 s; bin/taskforge must be built (make builds it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/taskforge"
key=$(printf %s "$root" | cksum | cut -d' ' -f1)
name=cluster-smoke-$key
db=taskforge_cluster_smoke_$key
state="$root/.data/$name"
bouncer_data="$root/.data/pgbouncer-$name"
out="$root/.data/$name.log"
say() { echo "cluster-smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[ -x "$bin" ] || fail "$bin is missing: run make test-cluster (it builds it first)"
for c in curl psql ps; do command -v "$c" >/dev/null 2>&1 || fail "$c is required"; done
started=$SECONDS

server=$("$root/scripts/postgres.sh" TEST_DATABASE_URL postgres)
direct=$(printf '%s' "$server" | sed -E "s#^([a-z]+://[^/?]*)(/[^?]*)?#\1/$db#")
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
webhook_key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

cluster_pid=""
passed=""
drop_db() { psql "$server" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1; }
# in_group PGID: the pids of the process group's members, one per line.
in_group() { ps -eo pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'; }
cleanup() {
  local code=$?
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$cluster_pid" ]; then
    in_group "$cluster_pid" | xargs -r kill -KILL 2>/dev/null || true
  fi
  PGBOUNCER_DATA="$bouncer_data" "$root/scripts/pgbouncer.sh" stop 2>/dev/null || true
  drop_db || say "could not drop database $db"
  if [ -n "$passed" ]; then
    rm -rf "$state" "$bouncer_data" "$out"
  elif [ -s "$out" ]; then
    say "the cluster's output (last 60 lines of $out):"
    tail -n 60 "$out" >&2
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -s "$state/cluster.pid" ] && ps -p "$(cat "$state/cluster.pid")" -o args= 2>/dev/null | grep -q cluster.sh; then
  trap - EXIT # not ours to stop
  fail "another make test-cluster runs in this checkout (pid $(cat "$state/cluster.pid"))"
fi
drop_db # left by a run that was killed
mkdir -p "$root/.data" # a clean clone has none yet
# 1. In a process group of its own (job control): as in a terminal, where Ctrl-C signals the
# whole group; and a background job without job control would ignore SIGINT.
set -m
env -u DATABASE_DIRECT_URL -u PGBOUNCER_DATA -u JWT_ISSUER -u JWT_AUDIENCE -u JWT_JWKS_URL \
  CLUSTER_NAME="$name" CLUSTER_APIS=2 CLUSTER_WORKERS=2 CLUSTER_PORT_BASE="${CLUSTER_SMOKE_PORT_BASE:-$((20000 + 8 * (key % 1000)))}" \
  CLUSTER_READY_TIMEOUT=40 DATABASE_URL="$server" JWT_SECRET="$secret" WEBHOOK_SECRET_KEY="$webhook_key" \
  LOG_LEVEL=info LOG_FORMAT=text "$root/scripts/cluster.sh" >"$out" 2>&1 &
cluster_pid=$!
set +m

# 2. Ready: both APIs answer, and the registry lists exactly the processes the script started.
deadline=$((SECONDS + 45))
apis=() nodes=""
until grep -q '^cluster: .* ready in' "$out" 2>/dev/null; do
  kill -0 "$cluster_pid" 2>/dev/null || fail "scripts/cluster.sh exited before the cluster was ready"
  ((SECONDS < deadline)) || fail "the cluster was not ready within 45 s"
  sleep 0.2
done
mapfile -t procs <"$state/processes"
[ "${#procs[@]}" = 4 ] || fail "want 4 processes in $state/processes, got ${#procs[@]}"
want_pids=()
for p in "${procs[@]}"; do
  read -r pname pid role http _ <<<"$p"
  want_pids+=("$pid:$role")
  [ "$role" != api ] || apis+=("$pname=http://$http")
done
[ "${#apis[@]}" = 2 ] || fail "want 2 API processes, got ${#apis[@]}"
for a in "${apis[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${a#*=}/readyz")
  [ "$code" = 200 ] || fail "${a%%=*}: /readyz answered $code"
done
list_nodes() { env -u DATABASE_DIRECT_URL DATABASE_URL="$direct" "$bin" nodes --json; }
while :; do
  nodes=$(list_nodes) || fail "taskforge nodes failed"
  # "pid:role" of each live node, sorted, against those of the processes started.
  got=$(printf '%s\n' "$nodes" | sed -nE 's/.*"role":"([a-z]+)".*"pid":([0-9]+).*/\2:\1/p' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "${want_pids[@]}" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] && break
  ((SECONDS < deadline)) || fail "taskforge nodes lists [$got], want [$want]"
  sleep 0.2
done
say "ready: $(grep -o 'ready in [0-9.]* s' "$out"); nodes: $got"
# Every process judged PgBouncer right (database.ProbePooling): one that took 1.18 for
# PostgreSQL itself, or for a pooler carrying prepared statements, would cache statements it loses.
bouncer=$(PGBOUNCER_DATA="$bouncer_data" "$root/scripts/pgbouncer.sh" url pgbouncer) # its console
version=$(psql "$bouncer" -Atc 'show version' | awk '{ print $2 }')
want_mode=cache_describe
[ "$(printf '%s\n%s\n' 1.21 "$version" | sort -V | head -n1)" != 1.21 ] || want_mode=cache_statement
modes=$(grep -c "msg=\"database statement cache\" exec_mode=$want_mode .*transaction pooler" "$out" || true)
[ "$modes" = 4 ] ||
  fail "PgBouncer $version: want 4 processes in $want_mode, got $modes: $(grep 'msg="database statement cache"' "$out")"

# 3. GraphQL through each API: the caller, then a write on one and a consistent read on the other.
token=$(env -u JWT_ISSUER -u JWT_AUDIENCE JWT_SECRET="$secret" "$bin" token --user cluster-smoke \
  --email smoke@example.com --name Smoke)
gql() { # URL JSON-BODY: the response body; fails unless HTTP 200 without errors
  local body
  body=$(curl -sS --max-time 20 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -w '\n%{http_code}' -d "$2" "$1/graphql") || return 1
  [ "${body##*$'\n'}" = 200 ] || { say "$1: HTTP ${body##*$'\n'}: ${body%$'\n'*}"; return 1; }
  body=${body%$'\n'*}
  if [[ $body == *'"errors"'* ]]; then say "$1: $body"; return 1; fi
  printf '%s' "$body"
}
for a in "${apis[@]}"; do
  r=$(gql "${a#*=}" '{"query":"{ me { id } }"}') || fail "${a%%=*}: me"
  [[ $r == *'"me":{"id":"cluster-smoke"}'* ]] || fail "${a%%=*}: me answered $r"
done
r=$(gql "${apis[0]#*=}" '{"query":"mutation { registerUser { id } createWorkspace(input: {name: \"Cluster smoke\"}) { id consistencyToken } }"}') ||
  fail "api-1: createWorkspace"
ws=$(printf '%s' "$r" | sed -nE 's/.*"createWorkspace":\{"id":"([^"]+)".*/\1/p')
ct=$(printf '%s' "$r" | sed -nE 's/.*"consistencyToken":"([^"]+)".*/\1/p')
if [ -z "$ws" ] || [ -z "$ct" ]; then fail "api-1: createWorkspace answered $r"; fi
r=$(gql "${apis[1]#*=}" "{\"query\":\"query(\$t: String) { workspaces(consistentWith: \$t) { nodes { id name } } }\",\"variables\":{\"t\":\"$ct\"}}") ||
  fail "api-2: workspaces"
[[ $r == *"{\"id\":\"$ws\",\"name\":\"Cluster smoke\"}"* ]] || fail "api-2 does not show workspace $ws: $r"
say "GraphQL: both APIs answer; a workspace created through api-1 is read through api-2"

# 4. Ctrl-C.
# PgBouncer's pid, from its console (its port may be taken by another checkout's soon after).
pidfile=$(psql "$bouncer" -Atc 'show config' | awk -F'|' '$1 == "pidfile" { print $2 }')
bouncer_pid=$(cat "$pidfile")
kill -0 "$bouncer_pid" 2>/dev/null || fail "PgBouncer's pid file $pidfile names no live process"
stop_started=${EPOCHREALTIME:-$SECONDS}
kill -INT -- -"$cluster_pid"
for _ in $(seq 1 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cluster_pid" 2>/dev/null && fail "scripts/cluster.sh still runs 30 s after SIGINT"
code=0
wait "$cluster_pid" || code=$?
stop_took=$(awk -v a="$stop_started" -v b="${EPOCHREALTIME:-$SECONDS}" 'BEGIN { printf "%.1f", b - a }')
[ "$code" = 0 ] || fail "scripts/cluster.sh exited with code $code after SIGINT, want 0"
# Its processes' output prefixers end when their process's output closes: a moment's grace.
for _ in $(seq 1 20); do [ -z "$(in_group "$cluster_pid")" ] && break; sleep 0.1; done
left=$(in_group "$cluster_pid" | tr '\n' ' ')
[ -z "$left" ] || fail "processes left after the cluster stopped: $(ps -o pid=,args= -p "${left// /,}" 2>/dev/null)"
for p in "${want_pids[@]}"; do
  ! kill -0 "${p%%:*}" 2>/dev/null || fail "process ${p%%:*} (${p#*:}) still runs"
done
! PGBOUNCER_DATA="$bouncer_data" "$root/scripts/pgbouncer.sh" url "$db" >/dev/null 2>&1 || fail "PgBouncer still runs"
! kill -0 "$bouncer_pid" 2>/dev/null || fail "PgBouncer (pid $bouncer_pid) still runs"
nodes=$(list_nodes) || fail "taskforge nodes failed after the stop"
[ -z "$nodes" ] || fail "nodes still registered after a graceful stop: $nodes"
grep -q '^cluster: stopped' "$out" || fail "scripts/cluster.sh did not say it stopped"
passed=1
say "ok: stopped on SIGINT in $stop_took s (exit 0, no process, PgBouncer or node left); $((SECONDS - started)) s in all"
