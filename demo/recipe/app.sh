#!/bin/sh
# The demo app: static pages from the `content` volume plus a CGI page that reads
# rows from the db service over the stack network (tasks.db: no VIP needed).
set -eu
mkdir -p /www/cgi-bin /www/data
printf '<h1>%s</h1>\n<p>%s</p>\n' "${GREETING:-demo}" "$DOMAIN" > /www/index.html
cat > /www/cgi-bin/rows <<'CGI'
#!/bin/sh
echo "Content-Type: text/plain"
echo
wget -q -O - http://tasks.db:5432/cgi-bin/rows
CGI
chmod 0755 /www/cgi-bin/rows
exec httpd -f -p 8080 -h /www
