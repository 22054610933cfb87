#!/usr/bin/env bash
# Check the systemd units (systemd/, rendered from nix/units.nix; see
# scripts/check-nix.sh), pointing their ExecStart at the freshly built binaries:
#   - `systemd-analyze verify` on every unit, with the generated man pages on
#     MANPATH (Documentation=man:...); any line it prints fails the check (an
#     unknown key is only a warning to it, and its exit code stays 0);
#   - `systemd-analyze calendar` on every OnCalendar=;
#   - `systemd-analyze security --offline=true` against a threshold per unit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Exposure (systemd-analyze security, 0-10) each unit may not exceed. Every unit
# runs as root with the Docker socket (root-equivalent, see nix/units.nix); the
# deploying ones also write Docker's volumes with a few capabilities.
declare -A threshold=(
    [ccci-reap.service]=1.9
    [ccci-run@.service]=2.7
    [ccci-sweep.service]=2.7
    [ccci-bridge.service]=2.7
)

cargo build --quiet --bins
target=${CARGO_TARGET_DIR:-$(pwd)/target}
bin=$(cd "$target" && pwd)/debug
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=()
for unit in systemd/*.service systemd/*.timer; do
    sed -e "s#/usr/bin/ccci-#$bin/ccci-#g" "$unit" >"$tmp/$(basename "$unit")"
    units+=("$tmp/$(basename "$unit")")
done

# Every ExecStart*/ExecStop* binary must be built (verify would say so too,
# less plainly).
while IFS= read -r exe; do
    [ -x "$exe" ] || { echo "check-units: $exe is not built" >&2; exit 1; }
done < <(grep -ho "$bin/ccci-[a-z-]*" "${units[@]}" | sort -u)

"$bin/ccci-gen-docs" "$tmp/docs" >/dev/null
if ! out=$(MANPATH="$tmp/docs/man" systemd-analyze verify "${units[@]}" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "check-units: systemd-analyze verify printed the above" >&2
    exit 1
fi

ncal=0
while IFS= read -r spec; do
    systemd-analyze calendar "$spec" >/dev/null \
        || { echo "check-units: OnCalendar=$spec does not parse" >&2; exit 1; }
    ncal=$((ncal + 1))
done < <(sed -n 's/^OnCalendar=//p' systemd/*.timer)

scores=()
for unit in systemd/*.service; do
    name=$(basename "$unit")
    max=${threshold[$name]:-}
    [ -n "$max" ] || { echo "check-units: no security threshold for $name" >&2; exit 1; }
    line=$(systemd-analyze security --offline=true "$tmp/$name" 2>&1 | tail -1)
    score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
    # --threshold counts in tenths (0-100).
    if ! systemd-analyze security --offline=true --threshold="${max/./}" "$tmp/$name" >/dev/null 2>&1; then
        echo "check-units: $name exposure $score is over its threshold $max" >&2
        exit 1
    fi
    scores+=("$name $score/$max")
done

echo "systemd units: ok ($(find systemd -name 'ccci-*' | wc -l) files; verify clean; $ncal calendars; exposure ${scores[*]})"
