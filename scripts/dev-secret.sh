#!/usr/bin/env bash
# Prints JWT_SECRET if set, else a development secret kept in .data/jwt-secret (created once), so
# that tokens minted by `make token` keep working across `make run` restarts.
set -euo pipefail
if [ -n "${JWT_SECRET:-}" ]; then echo "$JWT_SECRET"; exit 0; fi
root=$(cd "$(dirname "$0")/.." && pwd)
f="$root/.data/jwt-secret"
if [ ! -s "$f" ]; then
  mkdir -p "$root/.data"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f")
fi
cat "$f"
