# Run inside the new root by scripts/images.sh after the packages are in.
# The upstream image's uid and gid for postgres (999, not whatever Debian's
# adduser picked), so data volumes keep their owner across rebuilds and images.
old_uid=$(id -u postgres) old_gid=$(id -g postgres)
groupmod -g 999 postgres
usermod -u 999 postgres
find / -xdev -uid "$old_uid" -exec chown -h 999 {} +
find / -xdev -gid "$old_gid" -exec chgrp -h 999 {} +
# No Debian cluster: the entrypoint makes one in $PGDATA on first start.
rm -rf /etc/postgresql/15 /var/lib/postgresql/15
install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
install -d -o postgres -g postgres -m 2775 /run/postgresql
install -d -o root -g root -m 0755 /docker-entrypoint-initdb.d
ln -s /usr/local/bin/docker-entrypoint.sh /docker-entrypoint.sh
# The upstream image's locale (LANG=en_US.utf8, so initdb's default), then
# drop the locale sources.
localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8
rm -rf /usr/share/i18n/charmaps/* /usr/share/i18n/locales/*
# No JIT: LLVM, Z3 and the bitcode are 180 MB of the 360. Without llvmjit.so
# the server runs every query interpreted, as with jit = off.
rm -rf /usr/lib/x86_64-linux-gnu/libLLVM-14.so* /usr/lib/x86_64-linux-gnu/libz3.so.* \
    /usr/lib/postgresql/15/lib/llvmjit*.so /usr/lib/postgresql/15/lib/bitcode
/usr/lib/postgresql/15/bin/postgres --version
