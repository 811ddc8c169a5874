#!/usr/bin/env bash
# Wall time and peak memory of one tagsmith CLI command at two source trees, alternating.
#
#   bash benchmarks/cli_timing.sh OLD_SRC NEW_SRC RUNS -- tagsmith-args...
#
# OLD_SRC / NEW_SRC: the `src` folders of two checkouts (e.g. `git worktree add --detach
# /tmp/old REV`, then /tmp/old/src); RUNS: runs of each, alternating old and new. Each run
# is `/usr/bin/time -v python -m tagsmith -q ARGS` with that tree on PYTHONPATH and this
# repository's .venv python; stdout of the two sides is compared after every pair. Prints
# one line per run (side, wall seconds, peak RSS in MB) and the medians and their ratio.
set -euo pipefail
[ $# -ge 5 ] && [ "$4" = "--" ] || { echo "usage: $0 OLD_SRC NEW_SRC RUNS -- tagsmith-args..." >&2; exit 2; }
old=$1 new=$2 runs=$3; shift 4
python=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for run in $(seq 1 "$runs"); do
  for side in old new; do
    src=$old; [ $side = new ] && src=$new
    if ! /usr/bin/time -v env PYTHONPATH="$src" "$python" -m tagsmith -q "$@" > "$work/$side.out" 2> "$work/$side.time"; then
      # its stderr is in the file the exit trap deletes: show it (less time's report)
      echo "run $run, $side ($src): the command failed:" >&2
      grep -v $'^\t' "$work/$side.time" >&2 || true
      exit 1
    fi
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$work/$side.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$work/$side.time")
    echo "$run $side $wall $rss" | tee -a "$work/runs"
  done
  cmp -s "$work/old.out" "$work/new.out" || echo "run $run: the outputs differ"
done
"$python" - "$work/runs" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {side: (statistics.median(float(r[2]) for r in rows if r[1] == side),
              statistics.median(float(r[3]) for r in rows if r[1] == side)) for side in ("old", "new")}
print(f"median wall old {med['old'][0]:.2f} s, new {med['new'][0]:.2f} s, ratio {med['new'][0] / med['old'][0]:.2f}; "
      f"peak RSS old {med['old'][1]:.0f} MB, new {med['new'][1]:.0f} MB")
PY
