#!/bin/sh
# A database-like service: rows live under /var/lib/db/rows and are served over
# HTTP on 5432. A copy of the live directory is not a backup: `dump` writes a
# consistent dump.tar and `load` replays it (the backup-bot hooks call both).
set -eu
DATA=/var/lib/db
case "${1:-}" in
serve)
    pw=$(cat /run/secrets/db_password 2>/dev/null || true)
    if [ "${#pw}" -lt 16 ]; then
        echo "db: refusing to start without a db_password secret" >&2
        exit 1
    fi
    mkdir -p "$DATA/rows" /srv/www/cgi-bin
    cat > /srv/www/cgi-bin/rows <<'CGI'
#!/bin/sh
echo "Content-Type: text/plain"
echo
cat /var/lib/db/rows/* 2>/dev/null || true
CGI
    chmod 0755 /srv/www/cgi-bin/rows
    exec httpd -f -p 5432 -h /srv/www
    ;;
ping)
    wget -q -O /dev/null http://127.0.0.1:5432/cgi-bin/rows
    ;;
insert)
    mkdir -p "$DATA/rows"
    printf '%s\n' "$3" > "$DATA/rows/$2"
    ;;
delete)
    rm -f "$DATA/rows/$2"
    ;;
dump)
    tar -C "$DATA/rows" -cf "$DATA/dump.tar.tmp" .
    mv "$DATA/dump.tar.tmp" "$DATA/dump.tar"
    ;;
load)
    test -f "$DATA/dump.tar"
    rm -rf "$DATA/rows" && mkdir -p "$DATA/rows"
    tar -C "$DATA/rows" -xf "$DATA/dump.tar"
    rm -f "$DATA/dump.tar"
    ;;
*)
    echo "usage: db.sh serve|ping|insert ID VALUE|delete ID|dump|load" >&2
    exit 2
    ;;
esac
