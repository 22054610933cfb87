#!/usr/bin/env bash
# Benchmark of ccci-mirror-sync: a no-op sync of 21 local mirrors, as the weekly
# sweep runs it when no upstream moved. Each recipe has a local bare upstream
# with a few dozen annotated release tags, a bare mirror already in step with
# it, and one open pull request with a real change on the fake Gitea, so every
# sync lists the pull requests, judges one with git merge-tree, leaves it
# open, and reports "nothing to do". The 21 syncs run serially; the budget is
# 2 s for all 21.
#
#   scripts/bench-mirror-sync.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}
recipes=21
budget_ms=2000

cargo build --quiet --release -p ccci-mirror-sync -p ccci-fake-gitea
sync="$root/target/release/ccci-mirror-sync"
fake="$root/target/release/ccci-fake-gitea"

work=$(mktemp -d)
fake_pid=
cleanup() {
    if [[ -n $fake_pid ]]; then kill "$fake_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export CCCI_STATE_DIR="$work/state"
export GIT_AUTHOR_NAME=ccci-bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=ccci-bench GIT_COMMITTER_EMAIL=bench@localhost

# One upstream history: 34 annotated release tags, then untagged commits, and a
# pull request branch off its main.
up="$work/upstream-work"
git init -q -b main "$up"
for i in $(seq 1 34); do
    t="0.$((i / 10)).$((i % 10))+1.$i.0"
    echo "$t" >"$up/VERSION"
    git -C "$up" add VERSION
    git -C "$up" commit -q -m "chore: publish $t release"
    git -C "$up" tag -a "$t" -m "$t"
done
for i in 1 2 3; do git -C "$up" commit -q --allow-empty -m "fix: untagged $i"; done
base=$(git -C "$up" rev-parse main)
git -C "$up" checkout -q -b feature
echo feature >"$up/feature.txt"
git -C "$up" add feature.txt
git -C "$up" commit -q -m "feat: something upstream lacks"
head=$(git -C "$up" rev-parse feature)
git -C "$up" checkout -q main
ntags=$(git -C "$up" tag | wc -l)

# Per recipe: a bare upstream, a bare mirror holding the pull request branch,
# and the Gitea repository with that pull request open.
repos=()
for n in $(seq -w 1 "$recipes"); do
    r="recipe-$n"
    git clone -q --bare "$up" "$work/upstreams/$r.git"
    git -C "$work/upstreams/$r.git" branch -q -D feature
    git init -q --bare -b main "$work/mirrors/$r.git"
    git -C "$up" push -q "$work/mirrors/$r.git" feature
    repos+=("{\"owner\":\"recipes\",\"name\":\"$r\",\"collaborators\":{\"ci-bot\":\"write\"},\"pulls\":[{\"title\":\"Add a feature\",\"poster\":\"alice\",\"head\":\"feature\",\"head_sha\":\"$head\",\"base\":\"main\",\"base_sha\":\"$base\"}]}")
done
printf '{"users":[{"login":"ci-bot","tokens":[{"token":"bench-token","scopes":["write:repository","write:issue"]}]}],"repos":[%s]}\n' \
    "$(IFS=,; echo "${repos[*]}")" >"$work/seed.json"
echo bench-token >"$work/token"
"$fake" --seed "$work/seed.json" --url-file "$work/gitea-url" >/dev/null &
fake_pid=$!
for _ in $(seq 1 100); do [[ -s $work/gitea-url ]] && break; sleep 0.05; done
gitea=$(cat "$work/gitea-url")

sync_one() {
    "$sync" --upstream "$work/upstreams/$1.git" --mirror "$work/mirrors/$1.git" \
        --gitea "$gitea" --repo "recipes/$1" --token-file "$work/token"
}

# The first sync brings every mirror in step (and fills the caches).
for n in $(seq -w 1 "$recipes"); do sync_one "recipe-$n" >/dev/null; done

# One sweep's syncs; prints elapsed milliseconds, fails on a wrong answer.
sweep() {
    local t0 t1 r out
    t0=$(date +%s%N)
    for n in $(seq -w 1 "$recipes"); do
        r="recipe-$n"
        out=$(sync_one "$r" 2>&1) || {
            echo "$r: sync failed: $out" >&2
            exit 1
        }
        if [[ $out != "$r: nothing to do"* || $out != *"pull left: #1"* ]]; then
            echo "$r: expected nothing to do with one pull request left, got: $out" >&2
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
echo "ccci-mirror-sync benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git --version), $rounds rounds"
echo "no-op sync of $recipes local mirrors serially ($ntags tags each, one open pull request each on the fake Gitea, left open): worst ${worst} ms total, median ${median} ms, $((worst / recipes)) ms per mirror (budget ${budget_ms} ms)"
if ((worst >= budget_ms)); then
    echo "over budget: ${worst} ms >= ${budget_ms} ms" >&2
    exit 1
fi
