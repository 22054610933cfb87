# Versions of the swarm configs; bump one whenever its file changes.
export NGINX_DEFAULT_CONF_VERSION=v1
export PLACEHOLDER_SH_VERSION=v1
