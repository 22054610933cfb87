#!/usr/bin/env bash
# Build the bundled demo recipe as a real git repository with one annotated
# release tag per line of demo/recipe/releases, the way `abra recipe release`
# publishes them (commit "chore: publish <v> release", annotated tag).
#
#   scripts/demo-recipe.sh DEST     # DEST must not exist yet
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$here/demo/recipe"
dest=${1:?usage: demo-recipe.sh DEST}

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
