#!/usr/bin/env bash
# The main job on one of the bundled recipes, from a fresh machine: provision
# the rig, build ccci, then run the recipe's newest release through every tier
# on the real swarm with ccci-run: install the previous release, upgrade with a
# data marker that must survive, back up and restore, the recipe's own
# functional tests, lint, and teardown. Prints the tier table and the level;
# exits as ccci-run does (0 green, 1 red, 2 bad input, 75 infrastructure
# trouble).
#
#   scripts/demo.sh            # the demo recipe (demo/recipe/)
#   scripts/demo.sh RECIPE     # custom-html, mumble or pgapp (demo/<recipe>/,
#                              # its tests in recipes/<recipe>/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
recipe=${1:-demo}
if [ $# -gt 1 ] || { [ "$recipe" != demo ] && { [ "$recipe" = recipe ] || [ ! -f "demo/$recipe/releases" ]; }; }; then
    echo "usage: demo.sh [RECIPE]   (demo$(for d in demo/*/; do
        d=$(basename "$d")
        [ "$d" = recipe ] || [ ! -f "demo/$d/releases" ] || printf ', %s' "$d"
    done))" >&2
    exit 2
fi

scripts/rig.sh >/dev/null
cargo build --quiet --bins

work=$(mktemp -d)
export CCCI_STATE_DIR="${CCCI_STATE_DIR:-$work/state}"
export CCCI_RECIPES_DIR="${CCCI_RECIPES_DIR:-$root/recipes}"
scripts/demo-recipe.sh "$recipe" "$work/$recipe" >/dev/null
newest=$(git -C "$work/$recipe" tag --sort=v:refname | tail -n 1)

exec "${CARGO_TARGET_DIR:-$root/target}/debug/ccci-run" --recipe "$recipe" --repo "$work/$recipe" --ref "$newest"
