#!/bin/sh
# Like the upstream mumblevoip/mumble-server image's entrypoint: at each start,
# write /data/mumble_server_config.ini from MUMBLE_CUSTOM_CONFIG_FILE (else this
# image's defaults) with every MUMBLE_CONFIG_<SETTING>=value in it (SETTING in
# any case, underscores ignored: MUMBLE_CONFIG_WELCOMETEXT sets welcometext),
# set the SuperUser password from MUMBLE_SUPERUSER_PASSWORD if given, and run
# the server with that file. Without sslCert/sslKey the server makes a
# self-signed certificate at first start and keeps it in its database.
set -eu
data=/data
config=$data/mumble_server_config.ini
known=/etc/mumble-server.ini

case ${1:-} in
    murmurd | /usr/sbin/murmurd | mumble-server | /usr/bin/mumble-server) ;;
    *) exec "$@" ;;
esac
if [ ! -w "$data" ]; then
    echo "error: $data is not writable by $(id -un) (uid $(id -u))" >&2
    exit 1
fi

# option_for NAME: the setting murmurd knows by NAME, ignoring case and underscores.
option_for() {
    sed -En 's/^(;|#)? *([a-zA-Z_0-9]+)=.*/\2/p' "$known" | awk -v want="$1" '
        BEGIN { w = toupper(want); gsub(/_/, "", w) }
        { o = toupper($0); gsub(/_/, "", o); if (o == w) { print; exit } }'
}

overrides=$(mktemp)
trap 'rm -f "$overrides" "$config.new"' EXIT
env | sed -n 's/^MUMBLE_CONFIG_\([A-Za-z0-9_]*\)=.*/\1/p' | while read -r name; do
    option=$(option_for "$name")
    if [ -z "$option" ]; then
        echo "error: MUMBLE_CONFIG_$name names no setting murmurd knows (see $known)" >&2
        exit 1
    fi
    eval "value=\${MUMBLE_CONFIG_$name}"
    # shellcheck disable=SC2154 # value is set by the eval
    printf '%s="%s"\n' "$option" "$(printf '%s' "$value" | sed 's/\\/\\\\/g; s/"/\\"/g')"
done >"$overrides"

base=${MUMBLE_CUSTOM_CONFIG_FILE:-/etc/mumble-server/defaults.ini}
# The base without the settings overridden, the overrides before its first
# [section] (settings after one would belong to it).
awk -v overrides="$overrides" '
    BEGIN {
        while ((getline line < overrides) > 0) { k = line; sub(/=.*/, "", k); set[k] = 1; all = all line "\n" }
        print "; Written at each start by the entrypoint: change MUMBLE_CONFIG_* or MUMBLE_CUSTOM_CONFIG_FILE instead."
    }
    !done && /^[ \t]*\[/ { printf "%s", all; done = 1 }
    /=/ && !/^[ \t]*[;#]/ { k = $0; sub(/^[ \t]*/, "", k); sub(/[ \t]*=.*/, "", k); if (k in set) next }
    { print }
    END { if (!done) printf "%s", all }' "$base" >"$config.new"
mv "$config.new" "$config"

if [ -n "${MUMBLE_SUPERUSER_PASSWORD:-}" ]; then
    "$1" -ini "$config" -supw "$MUMBLE_SUPERUSER_PASSWORD"
fi
exec "$@" -ini "$config"
