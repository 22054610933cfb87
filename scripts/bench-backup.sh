#!/usr/bin/env bash
# Benchmark of ccci-verify-backup on the rig, printed as quotable lines: the full
# round trip (seed, backup, disturb, restore, wait healthy, check) of the demo
# recipe, with restic's own snapshot size and duration.
#
#   scripts/bench-backup.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
deploy="$root/target/release/ccci-deploy"
verify="$root/target/release/ccci-verify-backup"

work=$(mktemp -d)
export CCCI_STATE_DIR="$work/state"
trap '"$deploy" reap --grace 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/demo-recipe.sh "$work/demo" >/dev/null

run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.2.0+1.1 2>/dev/null)
"$deploy" deploy --wait "$run" >/dev/null
lines=()
for i in $(seq 1 "$rounds"); do
    t0=$(date +%s.%N)
    "$verify" --json roundtrip "$run" --marker-hook "db=$root/recipes/demo/hooks/backup-marker" >"$work/out.json"
    t1=$(date +%s.%N)
    lines+=("$(python3 -c "
import json, sys
v = json.load(open(sys.argv[1])); s = v['snapshot']
print(f\"{float(sys.argv[3]) - float(sys.argv[2]):.2f} {s['seconds']:.2f} {s['bytes']} {s['files']}\")" "$work/out.json" "$t0" "$t1")")
    echo "round $i: ${lines[-1]}" >&2
done
"$deploy" teardown "$run" >/dev/null

echo
echo "ccci-verify-backup benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(restic version | cut -d' ' -f1-2), $rounds rounds"
python3 -c "
import statistics, sys
rows = [l.split() for l in sys.argv[1:]]
rt = [float(r[0]) for r in rows]; rs = [float(r[1]) for r in rows]
print(f'demo round trip (seed, backup, disturb, restore, healthy, check): median {statistics.median(rt):.2f} s, max {max(rt):.2f} s')
print(f'restic snapshot: {rows[-1][3]} files, {rows[-1][2]} bytes, median {statistics.median(rs):.2f} s')" "${lines[@]}"
