#!/usr/bin/env bash
# Check the systemd units with `systemd-analyze verify`, pointing their ExecStart
# at the freshly built binaries (verify insists the executables exist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(pwd)/target/debug
cargo build --quiet --bins
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in systemd/*.service systemd/*.timer; do
    sed -e "s#/usr/bin/ccci-#$bin/ccci-#g" "$unit" >"$tmp/$(basename "$unit")"
done
systemd-analyze verify "$tmp"/*
echo "systemd units: ok ($(find systemd -name 'ccci-*' | wc -l) files)"
