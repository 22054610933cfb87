#!/bin/sh
# The upstream postgres image's entrypoint, for what recipes use of it:
# POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB and POSTGRES_INITDB_ARGS (each
# also as *_FILE, e.g. a docker secret in /run/secrets), POSTGRES_HOST_AUTH_METHOD
# and /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz on first start. The
# server runs as postgres; SIGTERM is a fast shutdown (the upstream image's
# STOPSIGNAL SIGINT, which `docker import` cannot set).
set -eu

# file_env VAR [DEFAULT]: $VAR, else the content of the file $VAR_FILE, else DEFAULT.
file_env() {
    eval "val=\${$1:-} file=\${$1_FILE:-}"
    if [ -n "$val" ] && [ -n "$file" ]; then
        echo "error: both $1 and $1_FILE are set (but are exclusive)" >&2
        exit 1
    fi
    if [ -n "$file" ]; then
        val=$(cat "$file") || { echo "error: cannot read $1_FILE=$file" >&2; exit 1; }
    fi
    export "$1=${val:-${2:-}}"
    unset "$1_FILE"
}

run_psql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --no-password "$@"; }

case ${1:-} in -*) set -- postgres "$@" ;; esac
[ "${1:-}" = postgres ] || exec "$@"

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        echo "error: database is uninitialized and superuser password is not specified;" \
            "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        $POSTGRES_INITDB_ARGS
    rm -f "$pwfile"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # Set up through the socket only, so nobody sees a half-made database.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        echo 'CREATE DATABASE :"db";' | run_psql --dbname=postgres --set db="$POSTGRES_DB"
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090
        case $f in
            *.sh) if [ -x "$f" ]; then echo "$0: running $f"; "$f"; else echo "$0: sourcing $f"; . "$f"; fi ;;
            *.sql) echo "$0: running $f"; run_psql --dbname="$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gzip -dc "$f" | run_psql --dbname="$POSTGRES_DB" ;;
            */\*) ;;
            *) echo "$0: ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi

# postgres as a child, so SIGTERM (docker stop) becomes a fast shutdown.
"$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || :' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null || :' QUIT
trap 'kill -HUP "$pid" 2>/dev/null || :' HUP
while :; do
    if wait "$pid"; then status=0; else status=$?; fi
    kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
