#!/usr/bin/env bash
# Benchmarks of ccci-deploy on the rig, printed as quotable lines:
#
#  1. a healthy deploy of the demo recipe: `ccci-deploy deploy --wait` next to a
#     bare `docker stack deploy` of the same config plus a poll-until-running
#     loop, alternating, ROUNDS times each;
#  2. a crash-looping upgrade: time from the failed task's own timestamp (as swarm
#     records it) to ccci-deploy's verdict;
#  3. teardown of the demo app including verification.
#
#   scripts/bench-deploy.sh [ROUNDS]     (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
deploy="$root/target/release/ccci-deploy"

work=$(mktemp -d)
export CCCI_STATE_DIR="$work/state"
trap '"$deploy" reap --grace 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/demo-recipe.sh "$work/demo" >/dev/null

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
stats() { python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[1:]]
print(f'median {statistics.median(v):.2f} s, mean {statistics.mean(v):.2f} s, min {min(v):.2f} s, max {max(v):.2f} s')" "$@"; }

# A bare deploy of the same recipe: render with the app env like abra, deploy,
# poll `docker service ls` until every service shows n/n.
bare_deploy() {
    local run=$1 stack
    stack=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stack'])" "$CCCI_STATE_DIR/runs/$run/app.json")
    (
        cd "$CCCI_STATE_DIR/runs/$run/recipe"
        set -a
        # shellcheck disable=SC1091
        . ../app.env
        # shellcheck disable=SC1091
        . ./abra.sh
        set +a
        STACK_NAME=$stack docker stack config -c compose.yml >"$work/bare.yml"
    )
    local t0 t1
    t0=$(now)
    docker stack deploy --resolve-image always -c "$work/bare.yml" "$stack" >/dev/null 2>&1
    while :; do
        if docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Replicas}}' \
            | awk -F/ 'NF { if ($1 != $2) bad = 1; n++ } END { exit (n == 0 || bad) }'; then
            break
        fi
        sleep 0.2
    done
    t1=$(now)
    elapsed "$t0" "$t1"
}

# The bare stack is not ccci's (its services carry no run labels), so ccci's
# teardown rightly leaves it: remove it the way its deployer would.
bare_remove() {
    local stack
    stack=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stack'])" "$CCCI_STATE_DIR/runs/$1/app.json")
    docker stack rm "$stack" >/dev/null
    for _ in $(seq 1 150); do
        if [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
            [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]; then
            break
        fi
        sleep 0.2
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$stack" | xargs -r docker volume rm -f >/dev/null
}

ccci_times=() bare_times=() teardown_times=()
for i in $(seq 1 "$rounds"); do
    run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.2.0+1.1 2>/dev/null)
    t0=$(now)
    "$deploy" deploy --wait "$run" >/dev/null
    t1=$(now)
    ccci_times+=("$(elapsed "$t0" "$t1")")
    t0=$(now)
    "$deploy" teardown "$run" >/dev/null
    t1=$(now)
    teardown_times+=("$(elapsed "$t0" "$t1")")

    run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.2.0+1.1 2>/dev/null)
    bare_times+=("$(bare_deploy "$run")")
    bare_remove "$run"
    "$deploy" teardown "$run" >/dev/null
    echo "round $i: ccci ${ccci_times[-1]} s, bare ${bare_times[-1]} s, teardown ${teardown_times[-1]} s" >&2
done

# Crash-looping upgrade: a release whose app exits at start, with rollback.
git -C "$work/demo" checkout --quiet main
sed -i 's/exec httpd/echo crash >\&2; exit 3; exec httpd/' "$work/demo/app.sh"
sed -i 's/APP_SH_VERSION=v1/APP_SH_VERSION=v2/' "$work/demo/abra.sh"
sed -i 's/version=0.2.0+1.1/version=0.3.0+1.2/' "$work/demo/compose.yml"
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost commit --quiet -am crash
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost tag -a 0.3.0+1.2 -m crash
latencies=()
for i in $(seq 1 "$rounds"); do
    run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.2.0+1.1 2>/dev/null)
    "$deploy" deploy --wait "$run" >/dev/null
    "$deploy" upgrade "$run" --ref 0.3.0+1.2 >/dev/null || true
    t1=$(now)
    stack=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stack'])" "$CCCI_STATE_DIR/runs/$run/app.json")
    mapfile -t tasks < <(docker service ps -q --no-trunc "${stack}_app")
    first_fail=$(docker inspect --type task "${tasks[@]}" \
        | python3 -c "
import json, sys, datetime
ts = [t['Status']['Timestamp'] for t in json.load(sys.stdin) if t['Status']['State'] == 'failed']
t = min(ts)
base, frac = t.rstrip('Z').split('.') if '.' in t else (t.rstrip('Z'), '0')
d = datetime.datetime.strptime(base, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc)
print(f'{d.timestamp() + float(\"0.\" + frac):.6f}')")
    latencies+=("$(elapsed "$first_fail" "$t1")")
    echo "crash round $i: verdict ${latencies[-1]} s after the first failed task" >&2
    "$deploy" teardown "$run" >/dev/null
done

echo
echo "ccci-deploy benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, docker $(docker version --format '{{.Server.Version}}'), $rounds rounds"
echo "healthy deploy, ccci-deploy deploy --wait:              $(stats "${ccci_times[@]}")"
echo "healthy deploy, bare stack deploy + poll until running: $(stats "${bare_times[@]}")"
python3 -c "
import statistics, sys
n = int(sys.argv[1]); v = [float(x) for x in sys.argv[2:]]
c, b = statistics.median(v[:n]), statistics.median(v[n:])
print(f'ccci-deploy overhead over bare (medians):            {100 * (c - b) / b:+.1f} %')" "$rounds" "${ccci_times[@]}" "${bare_times[@]}"
echo "crash-looping upgrade, first failed task -> verdict:    $(stats "${latencies[@]}")"
echo "teardown of the demo app incl. verification:           $(stats "${teardown_times[@]}")"
