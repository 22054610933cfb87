#!/usr/bin/env bash
# The whole test suite, from a fresh machine: provision the rig (Docker in swarm
# mode, registry, fixture images), then formatting, lints, shell checks, and
# every unit and integration test against the real swarm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "rig"
scripts/rig.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "shellcheck"
shellcheck scripts/*.sh .ci/run

step "systemd units"
scripts/check-units.sh

step "nix module"
scripts/check-nix.sh

step "cargo test"
# Tools call their siblings (ccci-verify-backup asks ccci-deploy to wait), so
# every binary is built fresh before any test runs.
cargo build --workspace --bins --quiet
cargo test --workspace
