#!/usr/bin/env bash
# Benchmark of ccci-run on the rig: ROUNDS full runs of the demo recipe's newest
# release (all six tiers and teardown), printed as quotable lines. The runner's
# own overhead is everything but Docker and the tests: the run's wall time minus
# the time spent in the tools that drive Docker (ccci-deploy), in hooks and in
# tests, as each run records it in results.json (`overhead_s`). Planning
# (ccci-discover) counts as overhead.
#
#   scripts/bench-run.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
runner="$root/target/release/ccci-run"

work=$(mktemp -d)
export CCCI_STATE_DIR="$work/state"
export CCCI_RECIPES_DIR="$root/recipes"
trap '"$root/target/release/ccci-deploy" reap --grace 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/demo-recipe.sh "$work/demo" >/dev/null
newest=$(git -C "$work/demo" tag --sort=v:refname | tail -n 1)

for i in $(seq 1 "$rounds"); do
    "$runner" --recipe demo --repo "$work/demo" --ref "$newest" --run-id "bench-$i" >/dev/null 2>&1 ||
        { echo "run bench-$i was not green: see $CCCI_STATE_DIR/runs/bench-$i" >&2; exit 1; }
done

python3 - "$CCCI_STATE_DIR/runs" "$rounds" <<'PY'
import json, os, statistics, sys
runs, n = sys.argv[1], int(sys.argv[2])
res = [json.load(open(os.path.join(runs, f"bench-{i}", "results.json"))) for i in range(1, n + 1)]
def line(what, v):
    print(f"{what:<46} median {statistics.median(v):.3f} s, mean {statistics.mean(v):.3f} s, "
          f"min {min(v):.3f} s, max {max(v):.3f} s")
print(f"ccci-run on the demo recipe, {n} runs, levels {sorted(set(r['level'] for r in res))}, "
      f"{os.cpu_count()} cores")
line("whole run (6 tiers + teardown):", [r["duration_s"] for r in res])
line("runner's own overhead (budget 2 s):", [r["overhead_s"] for r in res])
for t in ["install", "upgrade", "backup", "restore", "custom", "lint"]:
    line(f"  tier {t}:", [next(x["duration_s"] for x in r["tiers"] if x["name"] == t) for r in res])
PY
