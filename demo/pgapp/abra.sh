# Versions of the swarm configs; bump one whenever its file changes.
export PG_BACKUP_VERSION=v1
