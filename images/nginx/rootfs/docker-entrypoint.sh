#!/bin/sh
# As the upstream nginx image does: run each executable
# /docker-entrypoint.d/*.sh before starting nginx, then the command.
set -eu
if [ "${1:-}" = nginx ]; then
    for f in /docker-entrypoint.d/*.sh; do
        [ -x "$f" ] || continue
        echo "$0: running $f"
        "$f"
    done
fi
exec "$@"
