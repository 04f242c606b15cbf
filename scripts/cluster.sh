#!/usr/bin/env bash
# A local cluster (make cluster): PgBouncer in transaction mode, CLUSTER_APIS API processes and
# CLUSTER_WORKERS worker processes of bin/taskforge over one PostgreSQL database, the topology of
# README "Scaling out" on one machine. Ctrl-C (or SIGTERM) stops them all.
#
#   1. PostgreSQL: the server scripts/postgres.sh finds (DATABASE_URL's server if set), database
#      taskforge_<CLUSTER_NAME> (created if missing); migrations run once, before any process.
#   2. PgBouncer: scripts/pgbouncer.sh with its files under .data/pgbouncer-<CLUSTER_NAME>;
#      PGBOUNCER_POOL_SIZE (10) server connections for all the processes together.
#   3. The processes: DATABASE_URL through PgBouncer, DATABASE_DIRECT_URL to PostgreSQL (LISTEN,
#      leases, locks), HTTP_ADDR and METRICS_ADDR on free loopback ports from CLUSTER_PORT_BASE;
#      their output prefixed with their names ("api-1 | ...", "worker-2 | ...").
#   4. Once the APIs answer /readyz and the workers /metrics: a summary of the URLs.
#
# A process that exits on its own is reported (name, exit code) and the others keep running: a
# cluster is meant to survive a lost process (kill a worker and watch another take its consumers
# over). When none is left, the script stops PgBouncer and exits 1. Ctrl-C: SIGTERM to every
# process, SIGKILL to those still running after CLUSTER_STOP_TIMEOUT (a second Ctrl-C: at once),
# then PgBouncer stops, exit 0.
#
# Settings (environment): CLUSTER_APIS (2), CLUSTER_WORKERS (2), CLUSTER_PORT_BASE (18080),
# CLUSTER_NAME (cluster: the database's and data directories' name; another name runs a second
# cluster beside the first), CLUSTER_STOP_TIMEOUT (20 s), CLUSTER_READY_TIMEOUT (60 s),
# PGBOUNCER_POOL_SIZE (10), SHUTDOWN_TIMEOUT (5s here), JWT_SECRET and WEBHOOK_SECRET_KEY (else the
# development ones of make run), and any other variable of README "Configuration", which every
# process inherits. .data/<CLUSTER_NAME>/processes lists "name pid role http metrics" per process.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/taskforge" # built by make cluster
say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

apis=${CLUSTER_APIS:-2}
workers=${CLUSTER_WORKERS:-2}
port_base=${CLUSTER_PORT_BASE:-18080}
name=${CLUSTER_NAME:-cluster}
stop_timeout=${CLUSTER_STOP_TIMEOUT:-20}
ready_timeout=${CLUSTER_READY_TIMEOUT:-60}
for v in CLUSTER_APIS=$apis CLUSTER_WORKERS=$workers CLUSTER_PORT_BASE=$port_base \
  CLUSTER_STOP_TIMEOUT=$stop_timeout CLUSTER_READY_TIMEOUT=$ready_timeout; do
  [[ ${v#*=} =~ ^(0|[1-9][0-9]{0,4})$ ]] || die "${v%%=*} must be a whole number, got '${v#*=}'"
done
((apis >= 1 && apis <= 20)) || die "CLUSTER_APIS must be from 1 to 20, got $apis"
((workers >= 1 && workers <= 20)) || die "CLUSTER_WORKERS must be from 1 to 20, got $workers"
((port_base >= 1024 && port_base <= 65000)) || die "CLUSTER_PORT_BASE must be from 1024 to 65000, got $port_base"
[[ $name =~ ^[a-z0-9][a-z0-9_-]{0,39}$ ]] || die "CLUSTER_NAME must be lower-case letters, digits, _ and -, got '$name'"
db="taskforge_${name//-/_}"
state="$root/.data/$name"
export PGBOUNCER_DATA="$root/.data/pgbouncer-$name"
[ -x "$bin" ] || die "$bin is missing: run make cluster (it builds it first)"
command -v curl >/dev/null 2>&1 || die "curl is required (readiness checks): apt-get install curl"
start_time=${EPOCHREALTIME:-$SECONDS}

# One cluster per name: a second one would share (and, stopping, take down) this one's PgBouncer.
mkdir -p "$state"
if [ -s "$state/cluster.pid" ]; then
  other=$(cat "$state/cluster.pid")
  if [ "$other" != $$ ] && ps -p "$other" -o args= 2>/dev/null | grep -q cluster.sh; then
    die "a cluster named $name runs already (pid $other): stop it, or set CLUSTER_NAME for another one"
  fi
fi
echo $$ >"$state/cluster.pid"
# Processes of a run that was killed without its cleanup (SIGKILL) would hold the ports and
# count as live nodes: stop them first.
if [ -s "$state/processes" ]; then
  while read -r pname pid _; do
    if [ "$(ps -p "$pid" -o comm= 2>/dev/null)" = taskforge ]; then
      say "stopping $pname (pid $pid), left over from a run that was killed"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done <"$state/processes"
fi
: >"$state/processes"

names=() pids=() roles=() https=() metricses=()
stopping=""
force=""

# stop_all stops the processes (TERM, then KILL after stop_timeout or on a second signal) and
# PgBouncer, and reports each process's exit code. Idempotent: the EXIT trap calls it too.
# shellcheck disable=SC2317 # called by the traps
stop_all() {
  [ -z "$stopping" ] || return 0
  stopping=1
  trap 'force=1' INT TERM HUP
  local i pid live=0 waited=0 code
  for pid in "${pids[@]}"; do
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      live=$((live + 1))
    fi
  done
  [ "$live" = 0 ] || say "stopping $live processes (SIGTERM; Ctrl-C again: SIGKILL)"
  while :; do
    live=0
    for pid in "${pids[@]}"; do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && live=$((live + 1))
    done
    [ "$live" -gt 0 ] || break
    if [ -n "$force" ] || [ "$waited" -ge $((stop_timeout * 10)) ]; then
      for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
          say "${names[$i]} (pid $pid) still running: SIGKILL"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done
      force=""
      waited=0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    [ -n "$pid" ] || continue
    code=0
    wait "$pid" 2>/dev/null || code=$?
    [ "$code" = 0 ] || say "${names[$i]} exited with code $code"
  done
  wait 2>/dev/null || true # the output prefixers, done once their process's output closed
  "$root/scripts/pgbouncer.sh" stop || true
  rm -f "$state/processes" "$state/cluster.pid"
  say "stopped"
}
trap 'stop_all' EXIT
trap 'stop_all; exit 0' INT TERM HUP

# port_free PORT: nothing listens on it on loopback.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port=$port_base
take_port() { # sets port to the next free one from next_port
  while ! port_free "$next_port"; do
    next_port=$((next_port + 1))
    ((next_port <= 65535)) || die "no free port from $port_base"
  done
  port=$next_port
  next_port=$((next_port + 1))
}

# 1. PostgreSQL: the server that postgres.sh finds, and this cluster's database on it.
server_url=$("$root/scripts/postgres.sh" DATABASE_URL postgres)
url_re='^postgres(ql)?://[^/?]+(/[^?]*)?(\?.*)?$'
[[ $server_url =~ $url_re ]] || die "DATABASE_URL must be a postgres:// URL to use its server here"
# The same server and options, the path (the database) replaced.
direct_url=$(printf '%s' "$server_url" | sed -E "s#^([a-z]+://[^/?]*)(/[^?]*)?#\1/$db#")
if ! psql "$server_url" -Atqc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
  say "creating database $db"
  psql "$server_url" -qc "create database \"$db\"" >/dev/null
fi

# 2. PgBouncer in front of it.
bouncer_url=$(PGBOUNCER_UPSTREAM_URL="$server_url" "$root/scripts/pgbouncer.sh" start "$db")

# 3. The schema, once: the processes would migrate too, taking turns on the lock; this way they
# find nothing to do and start together.
DATABASE_URL="$direct_url" DATABASE_DIRECT_URL="$direct_url" "$bin" migrate 2>&1 | sed 's/^/migrate | /' >&2

export DATABASE_URL="$bouncer_url" DATABASE_DIRECT_URL="$direct_url"
JWT_SECRET=$("$root/scripts/dev-secret.sh")
WEBHOOK_SECRET_KEY=$("$root/scripts/dev-webhook-key.sh")
export JWT_SECRET WEBHOOK_SECRET_KEY
export SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-5s}

# start NAME ROLE HTTP METRICS: runs one process, its output (stdout and stderr, one line at a
# time) prefixed with its name. The prefixer ignores INT and TERM: a Ctrl-C reaches every process
# of the terminal's group, and a prefixer gone first would make its process's last lines fail.
start() {
  local pname=$1 role=$2 http=$3 metrics=$4
  HTTP_ADDR=$http METRICS_ADDR=$metrics "$bin" serve --role "$role" \
    > >(trap '' INT TERM; exec awk -v p="$pname | " '{ print p $0; fflush() }') 2>&1 &
  names+=("$pname") pids+=($!) roles+=("$role") https+=("$http") metricses+=("$metrics")
  echo "$pname $! $role ${http:--} $metrics" >>"$state/processes"
}
for i in $(seq 1 "$apis"); do
  take_port && http="127.0.0.1:$port"
  take_port && start "api-$i" api "$http" "127.0.0.1:$port"
done
for i in $(seq 1 "$workers"); do
  # Workers serve no HTTP (app.Run): port 0, so a future listener never lands on :8080.
  take_port && start "worker-$i" workers 127.0.0.1:0 "127.0.0.1:$port"
done

# reap: reports the processes that exited (name, code) and forgets them; fails when none is left.
reap() {
  local i code left=0
  for i in "${!pids[@]}"; do
    [ -n "${pids[$i]}" ] || continue
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      left=$((left + 1))
      continue
    fi
    code=0
    wait "${pids[$i]}" 2>/dev/null || code=$?
    say "${names[$i]} (pid ${pids[$i]}) exited unexpectedly with code $code"
    pids[i]=""
  done
  [ "$left" -gt 0 ]
}
# nap: sleeps a moment in a way a signal interrupts at once (bash runs traps between commands).
nap() { sleep "$1" & wait $! || true; }

# 4. Ready: every API answers /readyz, every worker /metrics.
deadline=$((SECONDS + ready_timeout))
for i in "${!pids[@]}"; do
  if [ "${roles[$i]}" = api ]; then probe="http://${https[$i]}/readyz"; else probe="http://${metricses[$i]}/metrics"; fi
  until curl -fsS -o /dev/null --max-time 2 "$probe" 2>/dev/null; do
    reap || die "every process has exited"
    [ -n "${pids[$i]}" ] || break # this one died: reported, go on with the others
    ((SECONDS < deadline)) || die "${names[$i]} not ready within ${ready_timeout} s ($probe)"
    nap 0.1
  done
done
elapsed=$(awk -v a="$start_time" -v b="${EPOCHREALTIME:-$SECONDS}" 'BEGIN { printf "%.1f", b - a }')

here=$bin
[ "$PWD" != "$root" ] || here=./bin/taskforge
running=0
for pid in "${pids[@]}"; do [ -z "$pid" ] || running=$((running + 1)); done
{
  echo
  echo "cluster: $running of $((apis + workers)) processes ($apis API, $workers workers) ready in $elapsed s"
  for i in "${!pids[@]}"; do
    [ -n "${pids[$i]}" ] || continue
    if [ "${roles[$i]}" = api ]; then
      printf '  %-10s GraphQL http://%s/graphql  playground http://%s/  metrics http://%s/metrics\n' \
        "${names[$i]}" "${https[$i]}" "${https[$i]}" "${metricses[$i]}"
    else
      printf '  %-10s metrics http://%s/metrics\n' "${names[$i]}" "${metricses[$i]}"
    fi
  done
  printf '  %-10s %s  (DATABASE_URL: every transaction; pool size %s)\n' PgBouncer "$bouncer_url" "${PGBOUNCER_POOL_SIZE:-10}"
  printf '  %-10s %s  (DATABASE_DIRECT_URL: LISTEN, leases, locks, migrations)\n' PostgreSQL "$direct_url"
  echo "  live processes:  DATABASE_URL='$direct_url' $here nodes"
  echo "  a token:         make token ID=alice EMAIL=alice@example.com NAME=Alice  (same JWT_SECRET as the cluster)"
  echo "  Ctrl-C stops everything; kill a process's pid (.data/$name/processes) to watch the others go on."
  echo
} >&2

while reap; do nap 0.5; done
say "every process has exited"
exit 1
