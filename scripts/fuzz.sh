#!/bin/sh
# Runs every Go fuzz target of the main module, one after the other, for
# FUZZTIME each (default 3s: the smoke run of `make test`; `make fuzz`
# passes a longer time). Targets are found with `go test -list '^Fuzz'`,
# so a new FuzzXxx is picked up without editing this script.
#
#   scripts/fuzz.sh [package pattern...]     default ./...
#
# Environment: GO (default go), FUZZTIME (default 3s), FUZZPARALLEL
# (fuzzing workers per target, default 2), FUZZMINIMIZETIME (default 50x:
# how many runs shrink a new interesting input or a failure; Go's default
# of 60 s per input stalls the targets with large JSON inputs, which find
# new coverage often, for most of a short run). Findings are written by the Go
# tool under the package's testdata/fuzz/<Target>/; the corpus it grows
# stays in the Go cache ($GOCACHE/fuzz), outside the repository.
set -eu

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}
FUZZPARALLEL=${FUZZPARALLEL:-2}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-50x}
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- ./...

list=$(mktemp)
trap 'rm -f "$list"' EXIT
# Output: target names, then "ok  <package> <time>" for each package.
"$GO" test -run '^$' -list '^Fuzz' "$@" | awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok/   { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
	/^\?/   { n = 0 }
' >"$list"

total=$(wc -l <"$list")
[ "$total" -gt 0 ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
echo "fuzz.sh: $total targets, $FUZZTIME each"
failed=0
start=$(date +%s)
while read -r pkg name; do
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
		-fuzzminimizetime "$FUZZMINIMIZETIME" -parallel "$FUZZPARALLEL" "$pkg" >"$list.out" 2>&1; then
		echo "FAIL $pkg $name"
		cat "$list.out"
		failed=$((failed + 1))
	else
		echo "ok   $pkg $name: $(grep -o 'elapsed: [^,]*, execs: [0-9]*' "$list.out" | tail -n 1)"
	fi
done <"$list"
rm -f "$list.out"
echo "fuzz.sh: $total targets in $(($(date +%s) - start))s, $failed failed"
[ "$failed" -eq 0 ]
