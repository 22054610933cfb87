#!/bin/sh
# The database's backup-bot hooks, run inside the db container:
#   backup   dump the app's database to backup.sql in the data volume (the
#            only file backed up: a copy of a running server's files is no
#            backup)
#   restore  replace the database with the restored dump, then remove it
set -eu
BACKUP_FILE=/var/lib/postgresql/data/backup.sql
psql_() { psql -v ON_ERROR_STOP=1 --no-psqlrc -U "$POSTGRES_USER" "$@"; }

case "${1:-}" in
backup)
    pg_dump -U "$POSTGRES_USER" "$POSTGRES_DB" > "$BACKUP_FILE.tmp"
    mv "$BACKUP_FILE.tmp" "$BACKUP_FILE"
    ;;
restore)
    test -s "$BACKUP_FILE"
    # Recreate the database (the app reconnects), then load the dump into it
    # in one transaction.
    psql_ -d postgres -c "DROP DATABASE IF EXISTS \"$POSTGRES_DB\" WITH (FORCE)"
    psql_ -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
    psql_ -d "$POSTGRES_DB" -1 -q -f "$BACKUP_FILE" >/dev/null
    rm -f "$BACKUP_FILE"
    ;;
*)
    echo "usage: pg_backup.sh backup|restore" >&2
    exit 2
    ;;
esac
