# Versions of the swarm configs; bump one whenever its file changes.
export APP_SH_VERSION=v1
export DB_SH_VERSION=v1
