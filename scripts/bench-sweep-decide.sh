#!/usr/bin/env bash
# Benchmark of ccci-sweep-decide: the decision step of a weekly sweep over 21
# enrolled recipes whose mirrors did not change since the last sweep. Each recipe
# has a local bare mirror with a few dozen tags (annotated releases, a
# pre-release, non-release tags) and a canonical.json at its newest release, so
# every decision must be skip:no-new-version. The 21 decisions run serially, as
# the sweep runs them; the budget is 1 s for all 21.
#
#   scripts/bench-sweep-decide.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}
recipes=21
budget_ms=1000

cargo build --quiet --release -p ccci-sweep-decide
decide="$root/target/release/ccci-sweep-decide"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CCCI_STATE_DIR="$work/state"
export GIT_AUTHOR_NAME=ccci-bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=ccci-bench GIT_COMMITTER_EMAIL=bench@localhost

# One upstream history: 34 annotated release tags (a pre-release before 1.0.0),
# a lightweight non-release tag and a v-prefixed one, then untagged commits.
up="$work/upstream"
git init -q -b main "$up"
tags=()
for i in $(seq 1 32); do tags+=("0.$((i / 10)).$((i % 10))+1.$i.0"); done
tags+=("1.0.0-rc.1+2.0.0" "1.0.0+2.0.0")
for t in "${tags[@]}"; do
    echo "$t" >"$up/VERSION"
    git -C "$up" add VERSION
    git -C "$up" commit -q -m "chore: publish $t release"
    git -C "$up" tag -a "$t" -m "$t"
done
git -C "$up" tag latest
git -C "$up" tag -a v0.0.1 -m "old scheme"
for i in 1 2 3; do git -C "$up" commit -q --allow-empty -m "fix: untagged $i"; done
newest=${tags[-1]}
commit=$(git -C "$up" rev-parse "$newest^{commit}")

for n in $(seq -w 1 "$recipes"); do
    r="recipe-$n"
    git clone -q --bare "$up" "$work/mirrors/$r.git"
    mkdir -p "$CCCI_STATE_DIR/canonical/$r"
    cat >"$CCCI_STATE_DIR/canonical/$r/canonical.json" <<EOF
{
  "schema": 1,
  "recipe": "$r",
  "version": "$newest",
  "commit": "$commit",
  "status": "idle",
  "promoted_at": "2026-01-04T03:00:00Z",
  "run_id": "20260104T030000Z-bench$n",
  "retained_volumes": ["${r}_data"]
}
EOF
done
ntags=$(git -C "$work/mirrors/recipe-01.git" tag | wc -l)

# One sweep's decisions; prints elapsed milliseconds, fails on a wrong answer.
sweep() {
    local t0 t1 r out
    t0=$(date +%s%N)
    for n in $(seq -w 1 "$recipes"); do
        r="recipe-$n"
        out=$("$decide" "$r" --repo "$work/mirrors/$r.git" 2>/dev/null) && {
            echo "$r: expected a skip, got $out" >&2
            exit 1
        }
        if [[ $out != skip:no-new-version ]]; then
            echo "$r: expected skip:no-new-version, got ${out:-nothing}" >&2
            exit 1
        fi
    done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}

sweep >/dev/null # warm the page cache and the binary
times=()
for i in $(seq 1 "$rounds"); do
    times+=("$(sweep)")
    echo "round $i: ${times[-1]} ms" >&2
done
mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
worst=${sorted[-1]}
median=${sorted[$((rounds / 2))]}

echo
echo "ccci-sweep-decide benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git --version), $rounds rounds"
echo "deciding $recipes unchanged recipes serially ($ntags tags each, local bare mirrors, all skip:no-new-version): worst ${worst} ms total, median ${median} ms, $((worst / recipes)) ms per recipe (budget ${budget_ms} ms)"
if ((worst >= budget_ms)); then
    echo "over budget: ${worst} ms >= ${budget_ms} ms" >&2
    exit 1
fi
