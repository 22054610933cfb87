#!/usr/bin/env bash
# Benchmark of ccci-bridge serve (release build) against the fake Gitea: 25
# watched repositories with nothing new. Reports the requests each idle poll
# cycle costs (goal: at most one per repository), the daemon's resident
# memory (goal: under 20 MB) and the time from a !testme comment, delivered as
# a signed webhook, to its queued run request (goal: under 100 ms), beside a
# bare HTTP round trip to the same server measured in the same run.
#
#   scripts/bench-bridge.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --quiet --release -p ccci-bridge --test bench -- --ignored --nocapture 2>&1 |
    grep '^BENCH ' | sed 's/^BENCH //'
