#!/usr/bin/env bash
# Build one of the bundled recipes as a real git repository with one annotated
# release tag per line of its `releases` file, the way `abra recipe release`
# publishes them (commit "chore: publish <v> release", annotated tag).
#
#   scripts/demo-recipe.sh DEST             # the demo recipe (demo/recipe/)
#   scripts/demo-recipe.sh RECIPE DEST      # demo, custom-html, mumble, pgapp (demo/<recipe>/)
#
# DEST must not exist yet. In every file, @IMAGE_TAG@ becomes the release's
# image tag and @VERSION@ its tag.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: demo-recipe.sh [RECIPE] DEST"
case $# in
1) recipe=demo dest=$1 ;;
2) recipe=$1 dest=$2 ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
if [ "$recipe" = demo ]; then
    src="$here/demo/recipe"
else
    src="$here/demo/$recipe"
fi
if [ "$recipe" = recipe ] || [ ! -f "$src/releases" ]; then
    echo "demo-recipe.sh: no recipe $recipe (recipes: demo$(cd "$here/demo" && for d in */; do
        d=${d%/}
        [ "$d" = recipe ] || [ ! -f "$d/releases" ] || printf ', %s' "$d"
    done))" >&2
    exit 2
fi
if [ -e "$dest" ]; then
    echo "demo-recipe.sh: $dest already exists" >&2
    exit 2
fi

export GIT_AUTHOR_NAME=ccci GIT_AUTHOR_EMAIL=ccci@localhost
export GIT_COMMITTER_NAME=ccci GIT_COMMITTER_EMAIL=ccci@localhost

git init --quiet --initial-branch=main "$dest"
grep -v '^#' "$src/releases" | while read -r tag image _msg; do
    [ -n "$tag" ] || continue
    find "$dest" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
    for f in "$src"/* "$src"/.env.sample; do
        name=$(basename "$f")
        [ "$name" = releases ] && continue
        sed -e "s/@IMAGE_TAG@/$image/g" -e "s/@VERSION@/$tag/g" "$f" > "$dest/$name"
    done
    git -C "$dest" add -A
    git -C "$dest" commit --quiet -m "chore: publish $tag release"
    git -C "$dest" tag -a "$tag" -m "$tag"
done
echo "$dest"
