#!/bin/sh
# A database-like service. Like a real database it serves from live state (here
# /run/db/rows, loaded from the volume at start) and writes through to its files
# under /var/lib/db/rows. Copying those files back under a running instance does
# not bring data back: `dump` writes a consistent dump.tar and `load` replays it
# into the live state (the backup-bot pre-hook and restore post-hook call them).
set -eu
DATA=/var/lib/db
LIVE=/run/db
case "${1:-}" in
serve)
    pw=$(cat /run/secrets/db_password 2>/dev/null || true)
    if [ "${#pw}" -lt 16 ]; then
        echo "db: refusing to start without a db_password secret" >&2
        exit 1
    fi
    mkdir -p "$DATA/rows" "$LIVE/rows" /srv/www/cgi-bin
    cp -a "$DATA/rows/." "$LIVE/rows/"
    cat > /srv/www/cgi-bin/rows <<'CGI'
#!/bin/sh
echo "Content-Type: text/plain"
echo
cat /run/db/rows/* 2>/dev/null || true
CGI
    chmod 0755 /srv/www/cgi-bin/rows
    exec httpd -f -p 5432 -h /srv/www
    ;;
ping)
    wget -q -O /dev/null http://127.0.0.1:5432/cgi-bin/rows
    ;;
insert)
    mkdir -p "$DATA/rows" "$LIVE/rows"
    printf '%s\n' "$3" > "$DATA/rows/$2"
    printf '%s\n' "$3" > "$LIVE/rows/$2"
    ;;
select)
    cat "$LIVE/rows/$2"
    ;;
delete)
    rm -f "$DATA/rows/$2" "$LIVE/rows/$2"
    ;;
dump)
    tar -C "$LIVE/rows" -cf "$DATA/dump.tar.tmp" .
    mv "$DATA/dump.tar.tmp" "$DATA/dump.tar"
    ;;
load)
    test -f "$DATA/dump.tar"
    rm -rf "$DATA/rows" "$LIVE/rows"
    mkdir -p "$DATA/rows" "$LIVE/rows"
    tar -C "$DATA/rows" -xf "$DATA/dump.tar"
    cp -a "$DATA/rows/." "$LIVE/rows/"
    rm -f "$DATA/dump.tar"
    ;;
*)
    echo "usage: db.sh serve|ping|insert ID VALUE|select ID|delete ID|dump|load" >&2
    exit 2
    ;;
esac
