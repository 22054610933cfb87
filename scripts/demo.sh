#!/usr/bin/env bash
# The main job on the bundled demo recipe, from a fresh machine: provision the
# rig, build ccci, then run the demo's newest release through every tier on the
# real swarm with ccci-run: install the previous release, upgrade with a data
# marker that must survive, back up and restore, the demo's own functional
# test, lint, and teardown. Prints the tier table and the level; exits as
# ccci-run does (0 green, 1 red, 2 bad input, 75 infrastructure trouble).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

scripts/rig.sh >/dev/null
cargo build --quiet --bins

work=$(mktemp -d)
export CCCI_STATE_DIR="${CCCI_STATE_DIR:-$work/state}"
export CCCI_RECIPES_DIR="${CCCI_RECIPES_DIR:-$root/recipes}"
scripts/demo-recipe.sh "$work/demo" >/dev/null
newest=$(git -C "$work/demo" tag --sort=v:refname | tail -n 1)

exec "$root/target/debug/ccci-run" --recipe demo --repo "$work/demo" --ref "$newest"
