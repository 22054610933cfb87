#!/usr/bin/env bash
# The weekly sweep. For every enrolled recipe (or the ones named): sync its
# mirror from upstream when recipe.json names one, decide from versions alone
# (ccci-sweep-decide), run the newest release tag cold (ccci-run --keep-volumes)
# and promote it when green (ccci-promote). One recipe's failure never stops the
# others. Prints a table and writes the summary to <state>/sweeps/<time>.json.
#
#   scripts/sweep.sh [RECIPE...]
#
# Tools come from $CCCI_BIN_DIR, else PATH; state and recipes from the usual
# config ($CCCI_STATE_DIR, $CCCI_RECIPES_DIR, /etc/ccci/config.json); the Gitea
# of the mirrors from $CCCI_GITEA_URL and its token as ccci-mirror-sync reads it.
# Exit: 0 every recipe was handled (red runs and refused promotions are results),
# 1 some recipe could not be handled (sync failed, bad settings, Docker trouble),
# 2 bad usage.
set -uo pipefail

tool() {
    if [ -n "${CCCI_BIN_DIR:-}" ]; then
        "$CCCI_BIN_DIR/$1" "${@:2}"
    else
        "$@"
    fi
}

state=${CCCI_STATE_DIR:-${STATE_DIRECTORY:-/var/lib/ccci}}
state=${state%%:*}
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$state" || { echo "sweep: cannot create state dir $state" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! tool ccci-discover list --long >"$work/recipes" 2>"$work/err"; then
    echo "sweep: cannot list recipes: $(tail -n 1 "$work/err")" >&2
    exit 2
fi
if [ $# -gt 0 ]; then
    for r in "$@"; do
        grep -q "^$r	" "$work/recipes" || { echo "sweep: $r is not an enrolled recipe" >&2; exit 2; }
    done
fi

# A top-level string or number field of a ccci tool's JSON output (compact or
# pretty; the values read here never contain quotes).
field() { grep -o "\"$1\": *\"[^\"]*\"" "$2" | head -n 1 | sed 's/.*: *"\(.*\)"$/\1/'; }
number() { grep -o "\"$1\": *[0-9][0-9]*" "$2" | head -n 1 | sed 's/.*: *//'; }
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n\r\t')"; }

rows=()
failed=0
printf '%-20s %-22s %-12s %-6s %-9s %s\n' RECIPE DECISION RESULT LEVEL SECONDS NOTE
while IFS=$'\t' read -r recipe repo upstream gitea_repo; do
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$recipe"; then
        continue
    fi
    start=$(date +%s)
    decision="-" result="-" level="-" run_id="" note=""
    (
        if [ "$repo" = "-" ]; then
            echo "decision=error"; echo "note=recipe.json names no repo"; exit 1
        fi
        # Never test a mirror that failed to sync: it may be stale or half-moved.
        if [ "$upstream" != "-" ]; then
            # Pull requests live on Gitea: without the mirror's Gitea repository
            # (recipe.json gitea_repo, Gitea at $CCCI_GITEA_URL) only git is synced.
            if [ "$gitea_repo" != "-" ]; then
                pulls=(--repo "$gitea_repo")
            else
                pulls=(--no-pulls)
            fi
            if ! tool ccci-mirror-sync --upstream "$upstream" --mirror "$repo" "${pulls[@]}" >"$work/sync" 2>&1; then
                echo "decision=error"; echo "note=mirror sync failed: $(tail -n 1 "$work/sync")"; exit 1
            fi
        fi
        tool ccci-sweep-decide --json "$recipe" --repo "$repo" >"$work/decide" 2>"$work/err"
        rc=$?
        echo "decision=$(field decision "$work/decide")"
        case $rc in
        0) ;;
        1) echo "note=$(tail -n 1 "$work/err")"; exit 0 ;;
        *) echo "decision=error"; echo "note=$(tail -n 1 "$work/err")"; exit 1 ;;
        esac
        newest=$(field newest "$work/decide")
        run_id="sweep-$stamp-$recipe"
        echo "run_id=$run_id"
        tool ccci-run --recipe "$recipe" --repo "$repo" --ref "$newest" --trigger sweep \
            --keep-volumes --run-id "$run_id" >"$work/run" 2>&1
        rc=$?
        results="$state/runs/$run_id/results.json"
        if [ -f "$results" ]; then
            echo "result=$(field verdict "$results")"
            echo "level=L$(number level "$results")"
        fi
        case $rc in
        0) ;;
        1) echo "note=$newest is red: see $state/runs/$run_id"; exit 0 ;;
        *) echo "result=error"; echo "note=ccci-run exit $rc: $(tail -n 1 "$work/run")"; exit 1 ;;
        esac
        tool ccci-promote "$run_id" >"$work/promote" 2>&1
        rc=$?
        echo "note=$(tail -n 1 "$work/promote")"
        [ $rc -le 1 ] || exit 1
    ) >"$work/row"
    rc=$?
    while IFS='=' read -r k v; do
        case $k in
        decision) decision=$v ;; result) result=$v ;; level) level=$v ;;
        run_id) run_id=$v ;; note) note=$v ;;
        esac
    done <"$work/row"
    [ $rc -eq 0 ] || failed=1
    secs=$(($(date +%s) - start))
    printf '%-20s %-22s %-12s %-6s %-9s %s\n' "$recipe" "$decision" "$result" "$level" "$secs" "$note"
    rows+=("{\"recipe\": $(json_str "$recipe"), \"decision\": $(json_str "$decision"), \"result\": $(json_str "$result"), \"level\": $(json_str "$level"), \"run_id\": $(json_str "$run_id"), \"seconds\": $secs, \"note\": $(json_str "$note")}")
done <"$work/recipes"

mkdir -p "$state/sweeps"
summary="$state/sweeps/$stamp.json"
{
    printf '{"schema": 1, "started": "%s", "recipes": [' "$stamp"
    sep=""
    for r in "${rows[@]}"; do
        printf '%s\n  %s' "$sep" "$r"
        sep=","
    done
    printf '\n]}\n'
} >"$summary.tmp" && mv "$summary.tmp" "$summary"
echo "summary: $summary"
exit $failed
