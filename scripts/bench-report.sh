#!/usr/bin/env bash
# Benchmark of ccci-report: one recipe with 1,000 finished runs in its history
# (real results.json, plan, request, junit.xml, secrets and logs, written by the
# tests' own fixtures through bins/ccci-report/examples/fake_history.rs). It
# times what the runner asks for as a run ends, `ccci-report pages --run
# <newest>`: that run's page and masked logs, the recipe page (a picture of all
# 1,000 runs, a table of the newest 100), the index and the badge. The budget
# is 1 s. The baseline is `cp -r` of the same state dir, measured in the same
# run; the ratio is ccci-report's time over cp's.
#
#   scripts/bench-report.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}
runs=1000
budget_ms=1000
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --quiet --release -p ccci-report --bin ccci-report --example fake_history
report="$target/release/ccci-report"
fake="$target/release/examples/fake_history"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
state="$work/state"
mkdir -p "$state"

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
worst() { printf '%s\n' "$@" | sort -n | tail -1; }

t0=$(now)
newest=$("$fake" "$state" bench "$runs")
echo "generated $runs runs in $(ms "$t0" "$(now)") ms" >&2
size=$(du -sm "$state" | cut -f1)
files=$(find "$state" -type f | wc -l)

# The baseline first, while the state dir holds only the runs. Each round
# starts with nothing left to write back, or cp would pay for the round before.
base=()
for i in $(seq 1 "$rounds"); do
    rm -rf "$work/copy"
    sync
    t0=$(now)
    cp -r "$state" "$work/copy"
    base+=("$(ms "$t0" "$(now)")")
    echo "round $i: cp -r ${base[-1]} ms" >&2
done
rm -rf "$work/copy"

# Every page once (what a first start or an upgrade of ccci-report does), and
# again with nothing changed: finished runs' pages are then read, not rewritten.
t0=$(now)
"$report" --state-dir "$state" pages >/dev/null
full=$(ms "$t0" "$(now)")
t0=$(now)
"$report" --state-dir "$state" pages >/dev/null
again=$(ms "$t0" "$(now)")

# The budgeted step; the run's page is new in every round, as when a run ends.
one=()
for i in $(seq 1 "$rounds"); do
    rm -rf "$state/www/runs/$newest"
    sync
    t0=$(now)
    "$report" --state-dir "$state" pages --run "$newest" >/dev/null
    one+=("$(ms "$t0" "$(now)")")
    echo "round $i: pages --run ${one[-1]} ms" >&2
done
bars=$(grep -o '<rect ' "$state/www/recipes/bench/index.html" | wc -l)
[ "$bars" -eq "$runs" ] || { echo "the recipe page draws $bars runs, not $runs" >&2; exit 1; }

med=$(median "${one[@]}")
top=$(worst "${one[@]}")
base_med=$(median "${base[@]}")
ratio=$(awk -v a="$med" -v b="$base_med" 'BEGIN {printf (b > 0 ? "%.2f" : "n/a"), (b > 0 ? a / b : 0)}')

echo
echo "ccci-report benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $rounds rounds"
echo "state dir: $runs runs of one recipe, $size MiB in $files files"
echo "pages --run <newest> (its page and logs, the recipe page drawing $runs runs, the index, the badge): median ${med} ms, worst ${top} ms (budget ${budget_ms} ms)"
echo "baseline, cp -r of the same state dir: median ${base_med} ms; ratio ccci-report / cp: ${ratio}"
echo "every page ($runs run pages with their logs): ${full} ms the first time, ${again} ms again with nothing changed"
if ((top >= budget_ms)); then
    echo "over budget: ${top} ms >= ${budget_ms} ms" >&2
    exit 1
fi

# From a run's end to its final comment, against the fake Gitea (release build).
cargo test --quiet --release -p ccci-report --test pr -- --ignored --nocapture bench_ 2>&1 |
    grep '^BENCH ' | sed 's/^BENCH //'
