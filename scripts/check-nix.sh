#!/usr/bin/env bash
# The NixOS module and the Nix package, evaluated with the vendored Nix library
# (Debian's nix-bin; no nixpkgs, no network):
#   - nix/tests/eval.nix: the module in a default and a fully configured form
#     (what it generates: units, config file, recipes), the assertions that must
#     fire for a bad configuration, the types that must refuse, the package's
#     wrapper and installed tools;
#   - systemd/ is the module's units rendered for a plain host
#     (nix/render-units.nix); `--write` regenerates systemd/ instead;
#   - `systemd-analyze calendar` on the fully configured form's OnCalendar=;
#   - every installed tool has a man page (the package's generator,
#     ccci-gen-docs, run from the cargo target dir).
# The Nix library comes from $CCCI_NIXPKGS_LIB, else ../shared/vendor/nixpkgs-lib
# beside the repository; without it this fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

write=false
[ "${1:-}" = --write ] && write=true

die() { printf 'check-nix: %s\n' "$*" >&2; exit 1; }

nixlib=${CCCI_NIXPKGS_LIB:-../shared/vendor/nixpkgs-lib}
[ -f "$nixlib/lib/default.nix" ] \
    || die "no Nix library at $nixlib/lib: set CCCI_NIXPKGS_LIB to the vendored nixpkgs-lib (shared/vendor/nixpkgs-lib)"
command -v nix-instantiate >/dev/null || die "nix-instantiate not found: run scripts/rig.sh (it installs Debian's nix-bin)"
nixlib=$(cd "$nixlib" && pwd)

# No daemon, no build users: only evaluation happens here.
export NIX_CONFIG="build-users-group =
experimental-features = nix-command"
lib="import $nixlib/lib"
nixeval() { nix eval --raw -f nix/render-units.nix --arg lib "$lib" "$@"; }

# 1. The module's tests.
checks=$(nix-instantiate --eval --strict --json nix/tests/eval.nix --arg lib "$lib" | tr ',' '\n' | grep -c .) \
    || die "nix/tests/eval.nix failed (above)"
echo "module: $checks checks pass (nix/tests/eval.nix)"

# 2. systemd/ is the rendering of the module's units.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/units"
for name in $(nixeval names); do
    nixeval "files.\"$name\"" >"$tmp/units/$name"
done
if $write; then
    rm -f systemd/ccci-*
    cp "$tmp"/units/* systemd/
    echo "systemd/: written from the module ($(find "$tmp/units" -type f | wc -l) files)"
elif ! diff -ru systemd "$tmp/units" >"$tmp/diff"; then
    cat "$tmp/diff" >&2
    die "systemd/ differs from the module's units (nix/units.nix): run scripts/check-nix.sh --write"
else
    echo "systemd/: equal to the module's units ($(find systemd -type f | wc -l) files)"
fi

# 3. The calendar of the fully configured form (systemd/'s own are checked by
#    scripts/check-units.sh).
cal=$(nix eval --raw --impure --expr "let lib = $lib; s = import ./nix/tests/stubs.nix { inherit lib; }; in (s.eval (import ./nix/tests/forms.nix { stubs = s; }).full).config.systemd.timers.ccci-sweep.timerConfig.OnCalendar")
systemd-analyze calendar "$cal" >/dev/null || die "OnCalendar=$cal does not parse"
echo "calendar: $cal parses"

target=${CARGO_TARGET_DIR:-target}
for t in ccci-gen-docs ccci-config ccci-discover; do
    [ -x "$target/debug/$t" ] || cargo build --quiet -p "$t"
    [ -x "$target/debug/$t" ] || die "$target/debug/$t was not built"
done

# 4. The config files the module writes, default and fully configured, pass
#    `ccci-config check` (what the package's build runs on them) here too.
for form in default full; do
    nix-instantiate --eval --strict --json --expr "let lib = $lib; s = import ./nix/tests/stubs.nix { inherit lib; }; in (s.eval (import ./nix/tests/forms.nix { stubs = s; }).$form).config.environment.etc.\"ccci/config.json\".source.settings" \
        >"$tmp/$form.json"
    "$target/debug/ccci-config" check "$tmp/$form.json" >/dev/null \
        || die "the $form form's config file fails ccci-config check: $(cat "$tmp/$form.json")"
done
echo "config files: default and full pass ccci-config check"

# 5. The recipe.json files the module writes are read by ccci as they are.
mkdir -p "$tmp/recipes"
ln -s "$(pwd)/recipes/_generic" "$tmp/recipes/_generic"
for r in $(nix eval --raw --impure --expr "let lib = $lib; s = import ./nix/tests/stubs.nix { inherit lib; }; in lib.concatStringsSep \" \" (builtins.attrNames (s.eval (import ./nix/tests/forms.nix { stubs = s; }).full).config.services.ccci.recipesDir.recipes)"); do
    mkdir "$tmp/recipes/$r"
    nix-instantiate --eval --strict --json --expr "let lib = $lib; s = import ./nix/tests/stubs.nix { inherit lib; }; in (s.eval (import ./nix/tests/forms.nix { stubs = s; }).full).config.services.ccci.recipesDir.recipes.\"$r\"" \
        >"$tmp/recipes/$r/recipe.json"
done
"$target/debug/ccci-discover" list --all --recipes-dir "$tmp/recipes" >"$tmp/list" \
    || die "ccci-discover refuses the recipe.json files the module writes"
echo "recipes: $(grep -c . "$tmp/list") recipe.json files the module writes pass ccci-discover"

# 6. A man page for every tool the package installs.
gen="$target/debug/ccci-gen-docs"
"$gen" "$tmp/docs" >/dev/null
tools=$(nix eval --raw --impure --expr "let lib = $lib; f = import ./nix/package.nix; args = lib.mapAttrs (n: _: { type = \"derivation\"; name = n; outPath = \"/\${n}\"; }) (builtins.functionArgs f); in lib.concatStringsSep \" \" (f (args // { inherit lib; rustPlatform.buildRustPackage = a: a; })).passthru.tools")
missing=()
for t in $tools; do
    [ -s "$tmp/docs/man/man1/$t.1" ] || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || die "no man page for: ${missing[*]} (ccci-gen-docs)"
echo "man pages: one for each of the $(wc -w <<<"$tools") installed tools"
