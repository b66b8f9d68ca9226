#!/usr/bin/env bash
# Build the Vault server binary from integration/vaultbin into a cache
# directory keyed by that module's go.mod, go.sum and main.go, and print its
# path. A no-op (apart from printing) when the cached binary is current.
# With --check, only print the path, failing when it has not been built.
#
# Cold: ~2 min download + ~12 min compile on 2 cores, link peaks near 6 GiB.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/vaultbin"
cache="${GETTOKEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gettoken}"
key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
out="$cache/vault-$key/vault"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if [ "${1:-}" = --check ]; then
  echo "build-vault: no Vault binary at $out" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
# One build at a time: two writing the same temporary binary corrupt it.
exec 9>"$(dirname "$out")/.lock"
flock 9
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
echo "building Vault server into $out (takes ~6 min warm, ~15 min cold)" >&2
(cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$out.tmp" .)
mv "$out.tmp" "$out"
echo "$out"
