# Versions of the swarm configs; bump one whenever its file changes.
export ABRA_ENTRYPOINT_VERSION=v1
