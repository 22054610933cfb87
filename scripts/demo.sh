#!/usr/bin/env bash
# The main job on the bundled demo recipe, from a fresh machine: provision the
# rig, build ccci, then take the demo through its lifecycle on the real swarm:
# install the previous release, upgrade to the newest one with a data marker
# that must survive, and tear everything down, printing each step's verdict.
#
# Then it backs the app up through its backup-bot labels, disturbs its data,
# restores, and checks the data came back. Steps of the full run that have no
# tool yet (custom, lint) are not faked: they are listed as not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

scripts/rig.sh >/dev/null
cargo build --quiet --bins

work=$(mktemp -d)
export CCCI_STATE_DIR="${CCCI_STATE_DIR:-$work/state}"
deploy="$root/target/debug/ccci-deploy"
verify="$root/target/debug/ccci-verify-backup"
scripts/demo-recipe.sh "$work/demo" >/dev/null

tags=$(git -C "$work/demo" tag --sort=v:refname)
previous=$(printf '%s\n' "$tags" | tail -n 2 | head -n 1)
newest=$(printf '%s\n' "$tags" | tail -n 1)

declare -A status summary
run=""
cleanup() {
    if [ -n "$run" ]; then
        if out=$("$deploy" teardown "$run"); then status[teardown]=pass; else status[teardown]=fail; fi
        summary[teardown]=$out
    fi
    printf '\n%-10s %-6s %s\n' TIER STATUS SUMMARY
    for t in install upgrade backup restore custom lint teardown; do
        printf '%-10s %-6s %s\n' "$t" "${status[$t]:-}" "${summary[$t]:-}"
    done
    printf '\nrun dir: %s/runs/%s\n' "$CCCI_STATE_DIR" "$run"
    for t in install upgrade backup restore teardown; do
        [ "${status[$t]:-}" = pass ] || return 1
    done
}
trap 'cleanup; exit $?' EXIT
for t in custom lint; do status[$t]="-"; summary[$t]="not run: no tool for this tier yet"; done

run=$("$deploy" new --recipe demo --repo "$work/demo" --ref "$previous" --trigger manual)
echo "run $run: demo $previous -> $newest"

if out=$("$deploy" deploy --wait "$run"); then status[install]=pass; else status[install]=fail; fi
summary[install]="$previous: $out"
[ "${status[install]}" = pass ] || exit 1

stack=$(sed -n 's/.*"stack": "\(.*\)".*/\1/p' "$CCCI_STATE_DIR/runs/$run/app.json")
db=$(docker ps -q --filter "name=${stack}_db." | head -n 1)
docker exec "$db" /bin/sh /srv/db.sh insert demo-marker "seeded before upgrade"

if out=$("$deploy" upgrade "$run" --ref "$newest"); then status[upgrade]=pass; else status[upgrade]=fail; fi
probe=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_ccci-probe" | head -n 1)
rows=$(docker exec "$probe" wget -q -O - http://tasks.app:8080/cgi-bin/rows || true)
if [ "$rows" != "seeded before upgrade" ]; then
    status[upgrade]=fail
    out="$out; marker lost (rows: ${rows:-none})"
fi
summary[upgrade]="$newest: $out"

if "$verify" --json roundtrip "$run" --marker-hook "db=$root/recipes/demo/hooks/backup-marker" >"$work/backup.json"; then
    status[backup]=pass
    status[restore]=pass
else
    status[restore]=fail
    # No snapshot (or no JSON at all: bad input, Docker trouble) means the
    # backup itself failed.
    if python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get('snapshot') else 1)" "$work/backup.json" 2>/dev/null; then
        status[backup]=pass
    else
        status[backup]=fail
    fi
fi
summary[backup]=$(python3 -c "
import json, sys
try:
    v = json.load(open(sys.argv[1]))
except ValueError:
    v = {'reason': 'ccci-verify-backup printed no report (see its error above)'}
s = v.get('snapshot') or {}
print(f\"snapshot {s.get('snapshot_id', '-')}: {s.get('files', 0)} files, {s.get('bytes', 0)} bytes in {s.get('seconds', 0):.2f} s\" if s else v.get('reason', ''))" "$work/backup.json")
summary[restore]=$(python3 -c "
import json, sys
try:
    v = json.load(open(sys.argv[1]))
except ValueError:
    v = {'reason': 'no report'}
print('; '.join(f\"{r['service']}/{r['volume']}: {r['marker']}\" for r in v.get('rows', [])) or v.get('reason', ''))" "$work/backup.json")
