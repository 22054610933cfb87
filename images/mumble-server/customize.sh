# Run inside the new root by scripts/images.sh after the packages are in.
# The upstream image's uid and gid (10000, not whatever Debian's adduser
# picked), so data volumes keep their owner across rebuilds and images.
old_uid=$(id -u mumble-server) old_gid=$(id -g mumble-server)
groupmod -g 10000 mumble-server
usermod -u 10000 mumble-server
find / -xdev -uid "$old_uid" -exec chown -h 10000 {} +
find / -xdev -gid "$old_gid" -exec chgrp -h 10000 {} +
install -d -o mumble-server -g mumble-server -m 0750 /data
ln -s /usr/local/bin/docker-entrypoint.sh /docker-entrypoint.sh
# The upstream image's name for the server.
ln -s /usr/sbin/murmurd /usr/bin/mumble-server
# Debian's annotated configuration names every setting murmurd knows; the
# entrypoint reads the names from it. It holds no secret.
chmod 0644 /etc/mumble-server.ini
murmurd -version 2>&1 | head -1
