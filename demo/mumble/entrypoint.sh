#!/bin/sh
# The SuperUser password comes from the admin_password secret; the image
# reads it from MUMBLE_SUPERUSER_PASSWORD and sets it at each start.
set -eu
if [ -r /run/secrets/admin_password ]; then
    MUMBLE_SUPERUSER_PASSWORD=$(cat /run/secrets/admin_password)
    export MUMBLE_SUPERUSER_PASSWORD
fi
exec /docker-entrypoint.sh "$@"
