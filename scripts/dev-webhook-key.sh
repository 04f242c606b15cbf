#!/usr/bin/env bash
# Prints WEBHOOK_SECRET_KEY if set, else a development key kept in .data/webhook-secret-key (created
# once, 32 random bytes as hex), so that webhook secrets stored by `make run` stay readable across
# restarts. There is no built-in default key: every copy of the source would know it.
set -euo pipefail
if [ -n "${WEBHOOK_SECRET_KEY:-}" ]; then echo "$WEBHOOK_SECRET_KEY"; exit 0; fi
root=$(cd "$(dirname "$0")/.." && pwd)
f="$root/.data/webhook-secret-key"
if [ ! -s "$f" ]; then
  mkdir -p "$root/.data"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f")
fi
cat "$f"
