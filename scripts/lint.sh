#!/usr/bin/env bash
# Runs golangci-lint (.golangci.yml: errcheck, unused, ineffassign) at a pinned version, installed
# with the Go toolchain into .data/bin on first use: a linter that changes under the code would
# turn CI red for no change of ours.
set -euo pipefail
version=v2.15.0
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.data/bin/golangci-lint"
if ! "$bin" version 2>/dev/null | grep -q "version ${version#v}"; then
  echo "lint.sh: installing golangci-lint $version (once)" >&2
  GOBIN="$root/.data/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
cd "$root"
exec "$bin" run ./...
