#!/bin/sh
# Run by the nginx image's entrypoint before nginx starts: a new site's volume
# is empty until its owner copies files in (`abra app cp`), so serve a
# placeholder page meanwhile. An existing index.html is never touched.
set -eu
html=/usr/share/nginx/html
if [ ! -e "$html/index.html" ]; then
    printf '<!doctype html>\n<title>%s</title>\n<p>Nothing here yet: copy your site into this volume.</p>\n' \
        "${DOMAIN:-custom-html}" > "$html/index.html"
fi
