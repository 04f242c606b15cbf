#!/usr/bin/env bash
# Prints the URL of a PostgreSQL server that Taskforge can use, starting one if needed.
#
#   scripts/postgres.sh URL_VAR DBNAME
#
# 1. If $URL_VAR (DATABASE_URL or TEST_DATABASE_URL) is set, it wins.
# 2. Else a server already answering on 127.0.0.1:5432 or the default socket is used.
# 3. Else a stopped Debian cluster (pg_lsclusters) is started.
# 4. Else a private server is created under .data/postgres from the installed binaries and started
#    on port 55432 (initdb, owned by the postgres system user when run as root).
# 5. Else it says what to install.
#
# DBNAME is created if it does not exist (for `make run`); `make test` creates its own databases.
set -euo pipefail

var=${1:-DATABASE_URL}
dbname=${2:-taskforge}
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/.data/postgres"
port=55432

log() { echo "postgres.sh: $*" >&2; }

if [ -n "${!var:-}" ]; then
  echo "${!var}"
  exit 0
fi

bindir=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then bindir=$(dirname "$(command -v initdb)"); fi
psql_bin=$(command -v psql || echo "$bindir/psql")

# can_use HOST PORT USER: the server answers and the role can log in.
can_use() {
  PGCONNECT_TIMEOUT=3 "$psql_bin" -h "$1" -p "$2" -U "$3" -d postgres -Atqc 'select 1' >/dev/null 2>&1
}

pick() { # HOST PORT: print the URL for the first role that can log in
  local u
  for u in postgres "$(id -un)"; do
    if can_use "$1" "$2" "$u"; then
      url="postgres://$u@$1:$2/$dbname?sslmode=disable"
      "$psql_bin" -h "$1" -p "$2" -U "$u" -d postgres -Atqc \
        "select 1 from pg_database where datname = '$dbname'" | grep -q 1 ||
        "$psql_bin" -h "$1" -p "$2" -U "$u" -d postgres -qc "create database \"$dbname\"" >&2
      echo "$url"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$psql_bin" ]; then
  log "no PostgreSQL found. Install it (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@15),"
  log "or point DATABASE_URL / TEST_DATABASE_URL at a server you have."
  exit 1
fi

pick 127.0.0.1 5432 && exit 0

if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  while read -r ver name _port status _; do
    if [ "$status" != online ]; then
      log "starting cluster $ver/$name"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || true
    fi
  done < <(pg_lsclusters -h)
  for _ in $(seq 1 30); do pick 127.0.0.1 5432 && exit 0; sleep 1; done
fi

# A private server under .data/.
pick 127.0.0.1 "$port" && exit 0
if [ -z "$bindir" ]; then
  log "psql is installed but not the server binaries (initdb, pg_ctl): apt-get install postgresql"
  exit 1
fi
as=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as=(runuser -u postgres --)
fi
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown -R postgres "$root/.data"
if [ ! -f "$data/PG_VERSION" ]; then
  log "initialising a private server in $data"
  "${as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >&2
fi
log "starting the private server on port $port"
"${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
  -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >&2
pick 127.0.0.1 "$port" && exit 0
log "could not start PostgreSQL; see $data/server.log"
exit 1
