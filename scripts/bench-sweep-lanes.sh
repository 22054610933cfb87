#!/usr/bin/env bash
# Benchmark of the sweep's lanes on the rig: a sweep of N demo-class recipes
# (default 6: copies of the demo recipe, each its own repository and name)
# with 1 lane, then with 2, each from an empty state dir, and the ratio of
# their wall times (goal: 2 lanes under 0.65 of 1 lane), with the host's peak
# memory in use above what it was before each sweep (sampled every 0.5 s), and
# what ccci's own budget saw: the largest app peak its runs measured, and how
# long runs waited for the budget (docs/budget.md).
#
#   scripts/bench-sweep-lanes.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
n=${1:-6}

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
bin="$root/target/release"

work=$(mktemp -d)
recipes="$work/recipes"
mkdir -p "$recipes"
cp -a "$root/recipes/_generic" "$recipes/"
for i in $(seq 1 "$n"); do
    name="lane$i"
    scripts/demo-recipe.sh "$work/$name.git" >/dev/null
    mkdir -p "$recipes/$name/hooks" "$recipes/$name/custom"
    cp "$root/recipes/demo/hooks/backup-marker" "$recipes/$name/hooks/"
    cp "$root/recipes/demo/custom/rows-over-http" "$recipes/$name/custom/"
    printf '{"schema": 1, "enrolled": true, "repo": "%s", "marker_hooks": {"db": "hooks/backup-marker"}}\n' \
        "$work/$name.git" >"$recipes/$name/recipe.json"
done
cleanup() {
    for s in "$work"/state-*; do
        [ -d "$s" ] || continue
        for run in "$s"/runs/*; do
            [ -d "$run" ] || continue
            CCCI_STATE_DIR="$s" "$bin/ccci-deploy" teardown "$(basename "$run")" --release >/dev/null 2>&1 || true
        done
    done
    rm -rf "$work"
}
trap cleanup EXIT

used_mb() { free -m | awk '/^Mem:/ { print $3 }'; }

sweep() {
    local lanes=$1 state="$work/state-$1" base peak=0 pid t0 t1 used
    base=$(used_mb)
    t0=$(date +%s.%N)
    CCCI_STATE_DIR="$state" CCCI_RECIPES_DIR="$recipes" CCCI_MAX_PARALLEL_RUNS=$lanes \
        "$bin/ccci-sweep" --lanes "$lanes" >"$work/sweep-$lanes.out" 2>"$work/sweep-$lanes.err" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        used=$(used_mb)
        [ "$used" -gt "$peak" ] && peak=$used
        sleep 0.5
    done
    wait "$pid" || { cat "$work/sweep-$lanes.out" "$work/sweep-$lanes.err" >&2; echo "sweep with $lanes lanes failed" >&2; exit 1; }
    t1=$(date +%s.%N)
    green=$(grep -c ' green ' "$work/sweep-$lanes.out" || true)
    echo "$lanes $(python3 -c "print(round($t1 - $t0, 1))") $((peak - base)) $green $(measured "$state")"
}

# The largest app peak (memory MiB, disk MiB) the runs measured, and the
# seconds they waited for the budget in all.
measured() {
    python3 - "$1" <<'PY'
import glob, json, sys
mem = disk = 0
waited = 0.0
for p in glob.glob(sys.argv[1] + "/runs/*/results.json"):
    b = json.load(open(p)).get("budget") or {}
    waited += b.get("waited_s", 0)
    for f in b.get("measured", {}).values():
        mem, disk = max(mem, f["memory_mb"]), max(disk, f["disk_mb"])
print(mem, disk, round(waited, 1))
PY
}

read -r _ s1 m1 g1 a1 d1 w1 < <(sweep 1)
read -r _ s2 m2 g2 a2 d2 w2 < <(sweep 2)
ratio=$(python3 -c "print(round($s2 / $s1, 3))")
echo "sweep of $n demo-class recipes on $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB:"
printf '  1 lane:  %6.1f s, %d/%d green, peak memory +%d MiB; largest app measured %d MiB memory, %d MiB disk; waited for the budget %s s\n' \
    "$s1" "$g1" "$n" "$m1" "$a1" "$d1" "$w1"
printf '  2 lanes: %6.1f s, %d/%d green, peak memory +%d MiB; largest app measured %d MiB memory, %d MiB disk; waited for the budget %s s\n' \
    "$s2" "$g2" "$n" "$m2" "$a2" "$d2" "$w2"
echo "  2 lanes / 1 lane: $ratio (goal: under 0.65)"
