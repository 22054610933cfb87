#!/usr/bin/env bash
# Benchmarks of ccci-deploy on the rig, printed as quotable lines:
#
#  1. a healthy deploy of the demo recipe: `ccci-deploy deploy --wait` next to a
#     bare `docker stack deploy` of the same config plus a poll-until-running
#     loop, alternating, ROUNDS times each;
#  2. the time from the decisive failure to ccci-deploy's verdict, the failure
#     being the container's death as Docker records it (`docker events`, watched
#     while the deploy runs):
#     - a crash loop: a fresh deploy whose app exits at every start (restart
#       delay 1 s); the fair start lets 5 failed tasks in a row pass, so the
#       6th death decides;
#     - a paused update: an upgrade to that release of an app whose
#       update_config says `failure_action: pause`; its first death decides;
#  3. teardown of the demo app including verification.
#
#   scripts/bench-deploy.sh [ROUNDS]     (default 5)
#
# Builds the release binaries in $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=${1:-5}

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
deploy="${CARGO_TARGET_DIR:-$root/target}/release/ccci-deploy"

work=$(mktemp -d)
export CCCI_STATE_DIR="$work/state"
trap '[ -z "${events_pid:-}" ] || kill "$events_pid" 2>/dev/null; "$deploy" reap --grace 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
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

# The failing releases: 0.2.1+1.1 is 0.2.0+1.1 restarting after 1 s and pausing
# a failed update; 0.3.0+1.2 is the same with an app that exits at start.
allowance=5
health="{\"start_window\": 60, \"max_restarts\": $allowance}"
git -C "$work/demo" checkout --quiet main
sed -i 's/^        order: stop-first$/&\n      restart_policy:\n        condition: any\n        delay: 1s/' "$work/demo/compose.yml"
sed -i 's/failure_action: rollback/failure_action: pause/' "$work/demo/compose.yml"
sed -i 's/version=0.2.0+1.1/version=0.2.1+1.1/' "$work/demo/compose.yml"
grep -q 'delay: 1s' "$work/demo/compose.yml"
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost commit --quiet -am pause
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost tag -a 0.2.1+1.1 -m pause
sed -i 's/exec httpd/echo crash >\&2; exit 3; exec httpd/' "$work/demo/app.sh"
sed -i 's/APP_SH_VERSION=v1/APP_SH_VERSION=v2/' "$work/demo/abra.sh"
sed -i 's/version=0.2.1+1.1/version=0.3.0+1.2/' "$work/demo/compose.yml"
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost commit --quiet -am crash
git -C "$work/demo" -c user.name=bench -c user.email=bench@localhost tag -a 0.3.0+1.2 -m crash

# Watch the deaths of a service's containers (`TimeNano exitCode` lines into
# $work/deaths) until stop_deaths; the daemon's own event buffer is too short
# to ask afterwards.
events_pid=
watch_deaths() {
    docker events --filter type=container --filter event=die \
        --filter "label=com.docker.swarm.service.name=$1" \
        --format '{{.TimeNano}} {{index .Actor.Attributes "exitCode"}}' >"$work/deaths" &
    events_pid=$!
    sleep 0.3
}
stop_deaths() {
    sleep 0.5
    kill "$events_pid" 2>/dev/null || true
    wait "$events_pid" 2>/dev/null || true
    events_pid=
}
# Seconds from the Nth death with exit code CODE to the verdict at T1.
decisive_to() {
    python3 -c "
import sys
n, code, t1 = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deaths = sorted(int(t) for t, c in (l.split() for l in open(sys.argv[4]) if l.strip()) if c == code)
if len(deaths) < n:
    sys.exit(f'only {len(deaths)} deaths with exit {code}, want {n}')
print(f'{t1 - deaths[n - 1] / 1e9:.2f}')" "$1" "$2" "$3" "$work/deaths"
}
stack_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stack'])" "$CCCI_STATE_DIR/runs/$1/app.json"; }

loop_latencies=() pause_latencies=()
for i in $(seq 1 "$rounds"); do
    # Crash loop: red at the failure past the allowance.
    run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.3.0+1.2 --health "$health" 2>/dev/null)
    watch_deaths "$(stack_of "$run")_app"
    "$deploy" deploy --wait "$run" >"$work/verdict" || true
    t1=$(now)
    stop_deaths
    grep -q "tasks failed in a row while starting, past the allowance of $allowance" "$work/verdict" \
        || { cat "$work/verdict" >&2; echo "crash loop: not the verdict expected" >&2; exit 1; }
    loop_latencies+=("$(decisive_to $((allowance + 1)) 3 "$t1")")
    "$deploy" teardown "$run" >/dev/null

    # Paused update: red at the first failure of the new spec.
    run=$("$deploy" new --recipe demo --repo "$work/demo" --ref 0.2.1+1.1 --health "$health" 2>/dev/null)
    "$deploy" deploy --wait "$run" >/dev/null
    watch_deaths "$(stack_of "$run")_app"
    "$deploy" upgrade "$run" --ref 0.3.0+1.2 >"$work/verdict" || true
    t1=$(now)
    stop_deaths
    grep -q "update paused" "$work/verdict" \
        || { cat "$work/verdict" >&2; echo "paused update: not the verdict expected" >&2; exit 1; }
    pause_latencies+=("$(decisive_to 1 3 "$t1")")
    "$deploy" teardown "$run" >/dev/null
    echo "failure round $i: crash loop verdict ${loop_latencies[-1]} s, paused update verdict ${pause_latencies[-1]} s after the decisive failure" >&2
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
echo "crash loop, decisive ($((allowance + 1))th) failure -> verdict:          $(stats "${loop_latencies[@]}")"
echo "paused update, decisive failure -> verdict:             $(stats "${pause_latencies[@]}")"
echo "teardown of the demo app incl. verification:           $(stats "${teardown_times[@]}")"
