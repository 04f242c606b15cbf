#!/usr/bin/env bash
# A PgBouncer in transaction mode in front of the local PostgreSQL, for tests and the local cluster.
#
#   scripts/pgbouncer.sh start [DBNAME]   start it unless it runs; print its URL (DBNAME: postgres)
#   scripts/pgbouncer.sh url [DBNAME]     print the URL of the running one (fails when stopped)
#   scripts/pgbouncer.sh stop             stop it and wait until it is gone (nothing running: no-op)
#   scripts/pgbouncer.sh died             succeed when it was started and is not running (asked
#                                         after a failure); print the end of its log and any kernel
#                                         line about it
#
# The upstream server is PGBOUNCER_UPSTREAM_URL, else the one scripts/postgres.sh finds (it honours
# TEST_DATABASE_URL). A `*` database forwards every database name to it, so test databases created
# on the server directly are reachable through PgBouncer under the same name. Authentication is
# trust (the local servers trust loopback); the userlist holds the upstream user and its password
# if the URL has one, which PgBouncer uses to log in to the server.
#
# Everything lives under PGBOUNCER_DATA (.data/pgbouncer; make test uses its own): config, userlist,
# pid, log and the port, picked free from PGBOUNCER_PORT (16432) upward once and kept.
# PGBOUNCER_POOL_SIZE (10) is the server connections per database and user. PgBouncer comes from Debian's package, installed
# with apt-get when missing (as root). It refuses to run as root: as root it runs as `postgres`.
set -euo pipefail

cmd=${1:-}
dbname=${2:-postgres}
root=$(cd "$(dirname "$0")/.." && pwd)
data=${PGBOUNCER_DATA:-$root/.data/pgbouncer}
# As root PgBouncer runs as postgres, which must reach its files: a checkout it cannot enter (a
# home directory of mode 700) keeps them in a directory of /tmp named after the checkout's.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$root"; then
  data="/tmp/taskforge-pgbouncer-$(printf %s "$data" | md5sum | cut -c1-12)"
fi
conf="$data/pgbouncer.ini"
pidfile="$data/pgbouncer.pid"
portfile="$data/port"
userfile="$data/user"

log() { echo "pgbouncer.sh: $*" >&2; }

# running: the pid in the pid file is a live pgbouncer.
running() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = pgbouncer ]
}

url() {
  running || { log "not running (scripts/pgbouncer.sh start)"; return 1; }
  echo "postgres://$(cat "$userfile")@127.0.0.1:$(cat "$portfile")/$dbname?sslmode=disable"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# answers: a query through PgBouncer succeeds.
answers() {
  PGCONNECT_TIMEOUT=2 psql "postgres://$(cat "$userfile")@127.0.0.1:$(cat "$portfile")/postgres?sslmode=disable" \
    -Atqc 'select 1' >/dev/null 2>&1
}

install() {
  command -v pgbouncer >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/pgbouncer ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "pgbouncer is not installed: apt-get install pgbouncer (Debian/Ubuntu) or brew install pgbouncer"
    return 1
  fi
  log "installing pgbouncer (apt-get)"
  # The package's own service stays off: policy-rc.d is honoured, and nothing here needs it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >&2; }
}

bin() { command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer; }

# version_ge A B: version A >= B (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

start() {
  if running && answers; then
    url
    return 0
  fi
  install
  local upstream
  upstream=${PGBOUNCER_UPSTREAM_URL:-$("$root/scripts/postgres.sh" TEST_DATABASE_URL postgres)}
  # postgres://user[:password]@host[:port]/db?params
  local re='^postgres(ql)?://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?(/[^?]*)?(\?.*)?$'
  if ! [[ $upstream =~ $re ]]; then
    log "upstream must be a postgres://user@host:port/db URL, got one of another form"
    return 1
  fi
  local user=${BASH_REMATCH[2]} pass=${BASH_REMATCH[4]} host=${BASH_REMATCH[5]} port=${BASH_REMATCH[7]:-5432}
  [ "$host" = localhost ] && host=127.0.0.1

  mkdir -p "$data"
  stop_quietly
  local p
  p=$(cat "$portfile" 2>/dev/null || true)
  if [ -z "$p" ] || ! port_free "$p"; then
    p=${PGBOUNCER_PORT:-16432}
    while ! port_free "$p"; do p=$((p + 1)); done
  fi
  echo "$p" >"$portfile"
  echo "$user" >"$userfile"
  printf '"%s" "%s"\n' "$user" "$pass" >"$data/userlist.txt"

  local version prepared=""
  version=$("$(bin)" --version | awk 'NR == 1 {print $2}')
  # Protocol-level prepared statements through transaction pooling: PgBouncer 1.21 and later.
  version_ge "$version" 1.21 && prepared="max_prepared_statements = 200"
  cat >"$conf" <<EOF
; Written by scripts/pgbouncer.sh; rewritten at each start.
[databases]
* = host=$host port=$port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $p
; No Unix socket: several checkouts may each run one.
unix_socket_dir =
auth_type = trust
auth_file = $data/userlist.txt
admin_users = $user
pool_mode = transaction
$prepared
; The server's max_connections is shared by every test run on the machine: small pools, closed soon
; when idle (tests create and drop many databases).
default_pool_size = ${PGBOUNCER_POOL_SIZE:-10}
max_client_conn = 400
server_idle_timeout = 10
autodb_idle_timeout = 30
ignore_startup_parameters = extra_float_digits,options
log_connections = 0
log_disconnections = 0
pidfile = $pidfile
logfile = $data/pgbouncer.log
EOF
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$data"
    as=(runuser -u postgres --)
  fi
  log "starting PgBouncer $version on 127.0.0.1:$p (transaction pooling) in front of $host:$port"
  "${as[@]}" "$(bin)" -d "$conf" >&2
  for _ in $(seq 1 50); do
    if running && answers; then
      url
      return 0
    fi
    sleep 0.2
  done
  log "PgBouncer did not answer; see $data/pgbouncer.log"
  tail -n 20 "$data/pgbouncer.log" >&2 || true
  return 1
}

# stop_quietly stops the running PgBouncer, if any, and waits until it is gone.
stop_quietly() {
  running || { rm -f "$pidfile"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    [ -d "/proc/$pid" ] || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  log "PgBouncer $pid did not stop on TERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  rm -f "$pidfile"
}

case "$cmd" in
start) start ;;
url) url ;;
stop)
  if running; then
    log "stopping PgBouncer $(cat "$pidfile")"
  elif [ -f "$pidfile" ]; then
    log "PgBouncer $(cat "$pidfile") had exited on its own; see $data/pgbouncer.log"
  fi
  stop_quietly
  ;;
died)
  # Asked right after a failure, while it should run: not running, though started here (its log
  # exists). A crash leaves the pid file; a FATAL exits through PgBouncer's own clean-up, which
  # removes it (1.18 in CI: "server_proto: server in bad state: 11" after a cancel request).
  ! running && [ -s "$data/pgbouncer.log" ] || exit 1
  log "PgBouncer exited on its own; the end of $data/pgbouncer.log:"
  tail -n 30 "$data/pgbouncer.log" >&2 || true
  { dmesg 2>/dev/null | grep -i pgbouncer | tail -n 5 >&2; } || true
  ;;
*)
  echo "usage: scripts/pgbouncer.sh start|stop|url|died [DBNAME]" >&2
  exit 2
  ;;
esac
