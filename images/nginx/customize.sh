# Run inside the new root by scripts/images.sh after the packages are in.
# Like the upstream image: only conf.d/*.conf is served (no Debian sites-*),
# the log files are the container's stdout and stderr.
rm -f /etc/nginx/sites-enabled/default
rm -rf /var/www/html
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log
nginx -t -q
