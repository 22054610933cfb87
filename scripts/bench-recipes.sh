#!/usr/bin/env bash
# Benchmark of ccci-run on the recipes modelled on real ones (real nginx,
# mumble-server, PostgreSQL): per recipe, the whole run and each tier's time
# (from results.json) next to a bare `docker stack deploy` of the same compose
# file (the newest release, rendered with its .env.sample and abra.sh the way
# abra would) polled until every service is running and healthy, and the
# ratios. The bare stack is named bench-bare-<recipe> and removed afterwards
# (services, configs, networks, volumes and the secrets made for it), its
# removal timed next to ccci's teardown.
#
#   scripts/bench-recipes.sh [-n ROUNDS] [RECIPE...]   (default 1 round; custom-html mumble pgapp)
#
# Builds the release binaries in $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
rounds=1
if [ "${1:-}" = -n ]; then
    rounds=${2:?usage: bench-recipes.sh [-n ROUNDS] [RECIPE...]}
    shift 2
fi
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(custom-html mumble pgapp)

scripts/rig.sh >/dev/null
cargo build --quiet --release --bins
bin="${CARGO_TARGET_DIR:-$root/target}/release"

work=$(mktemp -d)
export CCCI_STATE_DIR="$work/state"
export CCCI_RECIPES_DIR="$root/recipes"
bare_stack=
trap '[ -z "$bare_stack" ] || bare_remove >/dev/null 2>&1 || true
      "$bin/ccci-deploy" reap --grace 0 >/dev/null 2>&1 || true
      rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# bare_deploy RECIPE REPO TAG: deploy_s, the seconds from `docker stack
# deploy` until every service of the stack runs all its replicas (with a
# healthcheck, swarm calls a task running only once it is healthy). Runs in
# this shell (never in $(...)): bare_stack must reach the EXIT trap.
bare_deploy() {
    local recipe=$1 repo=$2 tag=$3 src="$work/bare-src" t0 t1 n
    bare_stack="bench-bare-$recipe"
    rm -rf "$src"
    git clone --quiet "$repo" "$src"
    git -C "$src" checkout --quiet "$tag"
    (
        cd "$src"
        set -a
        # shellcheck disable=SC1091
        . ./.env.sample
        # shellcheck disable=SC1091
        . ./abra.sh
        set +a
        export DOMAIN="$bare_stack.bench.localhost" STACK_NAME="$bare_stack"
        docker stack config -c compose.yml >"$work/bare.yml"
        # The external secrets the recipe declares, as abra would make them.
        sed -n 's/^SECRET_\([A-Z0-9_]*\)_VERSION=\([A-Za-z0-9._-]*\).*/\1 \2/p' .env.sample |
            while read -r name version; do
                head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' |
                    docker secret create --label "bench-bare=$bare_stack" \
                        "${bare_stack}_$(echo "$name" | tr '[:upper:]' '[:lower:]')_$version" - >/dev/null
            done
    )
    n=$(grep -c '^  [a-z][a-z0-9_-]*:$' <(sed -n '/^services:/,/^[a-z]/p' "$work/bare.yml"))
    t0=$(now)
    docker stack deploy --resolve-image always -c "$work/bare.yml" "$bare_stack" >/dev/null 2>&1
    for _ in $(seq 1 3000); do
        if docker service ls --filter "label=com.docker.stack.namespace=$bare_stack" --format '{{.Replicas}}' |
            awk -F/ -v want="$n" 'NF { if ($1 != $2 || $2 == 0) bad = 1; k++ } END { exit (k < want || bad) }'; then
            t1=$(now)
            deploy_s=$(elapsed "$t0" "$t1")
            return 0
        fi
        sleep 0.1
    done
    echo "bench-recipes.sh: $bare_stack did not converge in 300 s" >&2
    return 1
}

# bare_remove: remove the bare stack the way its deployer would (stack rm does
# not remove volumes or external secrets); remove_s, the seconds it took.
bare_remove() {
    local t0 t1
    t0=$(now)
    docker stack rm "$bare_stack" >/dev/null
    for _ in $(seq 1 600); do
        if [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$bare_stack")" ] &&
            [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$bare_stack")" ]; then
            break
        fi
        sleep 0.1
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$bare_stack" | xargs -r docker volume rm -f >/dev/null
    docker secret ls -q --filter "label=bench-bare=$bare_stack" | xargs -r docker secret rm >/dev/null
    t1=$(now)
    bare_stack=
    remove_s=$(elapsed "$t0" "$t1")
}

: >"$work/bare.tsv"
for recipe in "${recipes[@]}"; do
    repo="$work/repo-$recipe"
    scripts/demo-recipe.sh "$recipe" "$repo" >/dev/null
    newest=$(git -C "$repo" tag --sort=v:refname | tail -n 1)
    for i in $(seq 1 "$rounds"); do
        id="bench-$recipe-$i"
        "$bin/ccci-run" --recipe "$recipe" --repo "$repo" --ref "$newest" --run-id "$id" >/dev/null 2>&1 ||
            {
                echo "run $id was not green: see $CCCI_STATE_DIR/runs/$id" >&2
                exit 1
            }
        bare_deploy "$recipe" "$repo" "$newest"
        bare_remove
        printf '%s\t%s\t%s\t%s\n' "$recipe" "$i" "$deploy_s" "$remove_s" >>"$work/bare.tsv"
        echo "$recipe round $i: ccci-run green, bare deploy ${deploy_s} s, bare removal ${remove_s} s" >&2
    done
done

python3 - "$CCCI_STATE_DIR/runs" "$work/bare.tsv" "$rounds" "${recipes[@]}" <<'PY'
import json, os, statistics, sys
runs, bare_file, n, recipes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
bare = {}
for line in open(bare_file):
    r, _, d, rm = line.split("\t")
    bare.setdefault(r, []).append((float(d), float(rm)))
tiers = ["install", "upgrade", "backup", "restore", "custom", "lint"]
med = statistics.median
print(f"ccci-run on the recipes modelled on real ones, {n} round(s) each (medians), {os.cpu_count()} cores")
print(f"{'recipe':<12} {'level':>5} {'run':>7} " + " ".join(f"{t:>8}" for t in tiers)
      + f" {'teardown':>8} | {'bare':>6} {'bare rm':>7} | {'run/bare':>8} {'install/bare':>12}")
for recipe in recipes:
    res = [json.load(open(os.path.join(runs, f"bench-{recipe}-{i}", "results.json"))) for i in range(1, n + 1)]
    whole = med([r["duration_s"] for r in res])
    per = {t: med([next(x["duration_s"] for x in r["tiers"] if x["name"] == t) for r in res]) for t in tiers}
    # ccci's teardown, as the run's ledger records it (results.json has no time for it).
    def teardown_s(r):
        with open(os.path.join(runs, r["run_id"], "ledger.jsonl")) as f:
            ends = [e for e in map(json.loads, f) if e["action"] == "teardown"]
        return ends[-1]["detail"]["elapsed_ms"] / 1000 if ends else float("nan")
    teardown = med([teardown_s(r) for r in res])
    b = med([d for d, _ in bare[recipe]])
    brm = med([rm for _, rm in bare[recipe]])
    levels = "/".join(sorted({f"L{r['level']}" for r in res}))
    print(f"{recipe:<12} {levels:>5} {whole:6.1f}s " + " ".join(f"{per[t]:7.1f}s" for t in tiers)
          + f" {teardown:7.1f}s | {b:5.1f}s {brm:6.1f}s | {whole / b:7.1f}x {per['install'] / b:11.1f}x")
print("run: the whole ccci-run (6 tiers and teardown); bare: `docker stack deploy` of the newest release's "
      "compose file until every service runs healthy; install/bare: ccci's install tier (create, deploy at "
      "the previous release, wait, probe, install tests) over the bare convergence")
PY
