#!/usr/bin/env bash
# The benchmark report: every benchmark of the project in one run, against
# the real stack on this machine, printed as a short report with medians and
# ratios against curl and the Python originals, then the fault suite's
# figures table. About 20 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${BENCH_OUT:-$root/bench-report.txt}
{
  echo "# gettoken benchmark report — $(date -u +%Y-%m-%dT%H:%MZ) — $(nproc) cores, $(go version | cut -d' ' -f3)"
  echo
  echo "## Stack start-up (builds excluded; goal < 10 s)"
  (cd "$root/integration" && go test -run '^$' -bench BenchmarkStackStart -benchtime 5x ./stack/) |
    awk '/^Benchmark/ { for (i=1;i<=NF;i++) if ($i=="startup-s") printf "median start-up: %s s over 5 starts\n", $(i-1) }'
  echo
  echo "## gettoken client fast paths (goals: <= 1.3x curl; local reuse < 5 ms; --version and --reuse-bearer <= 1.25x a minimal Go program linking net/http)"
  (cd "$root" && make -s build >&2)
  (cd "$root/integration" && go run ./cmd/benchclient -bin "$root/bin")
  echo
  echo "## gettoken_transfer_plugin vs curl, same XRootD, same token (goals: >= 0.95x curl, RSS < 40 MiB; 1,000 files >= 10x 1,000 curl runs and faster than one curl run with all URLs)"
  (cd "$root/integration" && go run ./cmd/benchtransfer -bin "$root/bin")
  echo "## Renewal through Kerberos per cache type (goal: < 1 ms over FILE; < 3x one curl GET)"
  (cd "$root/integration" && go run ./cmd/benchkrb -bin "$root/bin")
  echo "## condor_credmon_webserver: 100 concurrent sessions, next to a static file server (goal: p99 < 20 ms, RSS < 30 MiB)"
  (cd "$root/integration" && go run ./cmd/benchwebapp -bin "$root/bin")
  echo
  echo "## condor_credmon_vault: 10,000 users, Vault 20 ms away (takes ~5 minutes: the sequential pass)"
  (cd "$root/integration" && go run ./cmd/benchcredmon -bin "$root/bin")
  echo
  echo "## Faults (integration/faults: every scenario's figures; see docs/faults.md)"
  table=$(mktemp)
  (cd "$root/integration" && GETTOKEN_FAULTS_TABLE="$table" go test -count=1 -v -timeout 20m ./faults/ >&2)
  cat "$table"
  rm -f "$table"
} | tee "$out"
echo "report written to $out" >&2
