#!/usr/bin/env bash
# The test rig: make this machine able to run ccci and its tests, idempotently.
#
# - installs what is missing from Debian's packages (Docker Engine, restic, the
#   registry, static busybox, shellcheck, git, curl, systemd, nix-bin, util-linux);
# - starts dockerd if it is not running, and puts the engine in swarm mode;
# - starts an image registry on 127.0.0.1:5000;
# - builds the fixture images from static busybox with `docker import` (no public
#   registry is reachable here) and pushes them to that registry.
#
# A second run changes nothing and says so. Set CCCI_RIG_DIR to move its state
# (default /var/lib/ccci-rig).
set -euo pipefail

rig=${CCCI_RIG_DIR:-/var/lib/ccci-rig}
registry=127.0.0.1:5000
# Fixture image tags: the demo recipe's releases use 1.0 and 1.1; tests may use
# the others. Each tag is a distinct image (it carries its own tag in
# /etc/ccci-image) so an upgrade really changes the image.
tags=(1.0 1.1 1.2)

say() { printf 'rig: %s\n' "$*"; }
die() { printf 'rig: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts dockerd)"
}

install_packages() {
    local missing=() pkg
    # nix-bin: scripts/check-nix.sh evaluates the NixOS module with it (no daemon,
    # no nixpkgs); util-linux: unshare and setpriv for the NixOS-unit sandbox of
    # bins/ccci-run/tests/nixos_path.rs; mmdebstrap: scripts/images.sh builds the
    # server images with it.
    for pkg in docker.io restic docker-registry busybox-static shellcheck git curl systemd nix-bin util-linux mmdebstrap; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "packages: all present"
        return
    fi
    say "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then
        say "dockerd: running"
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not found after install"
    mkdir -p "$rig"
    say "dockerd: starting (log $rig/dockerd.log)"
    setsid nohup dockerd >>"$rig/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { say "dockerd: up"; return; }
        sleep 0.5
    done
    tail -20 "$rig/dockerd.log" >&2 || true
    die "dockerd did not come up within 30 s"
}

init_swarm() {
    local state
    state=$(docker info --format '{{.Swarm.LocalNodeState}}')
    if [ "$state" = active ]; then
        say "swarm: active"
        return
    fi
    say "swarm: initialising"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
}

# The network every app of a Co-op Cloud server shares with the others (its
# Traefik's): recipes declare it external, and ccci's decoys join it.
shared_network() {
    if docker network inspect proxy >/dev/null 2>&1; then
        say "network: proxy present"
        return
    fi
    say "network: creating the shared overlay network proxy"
    docker network create --driver overlay --attachable proxy >/dev/null
}

start_registry() {
    if curl -fsS "http://$registry/v2/" >/dev/null 2>&1; then
        say "registry: answering on $registry"
        return
    fi
    mkdir -p "$rig/registry"
    cat >"$rig/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $rig/registry
  delete:
    enabled: true
http:
  addr: $registry
YML
    say "registry: starting on $registry (log $rig/registry.log)"
    setsid nohup docker-registry serve "$rig/registry.yml" >>"$rig/registry.log" 2>&1 </dev/null &
    for _ in $(seq 1 40); do
        curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && return
        sleep 0.25
    done
    die "registry did not answer on $registry"
}

build_images() {
    local tag image root applet
    for tag in "${tags[@]}"; do
        image="$registry/ccci/busybox:$tag"
        if curl -fsS -o /dev/null \
            -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
            "http://$registry/v2/ccci/busybox/manifests/$tag" 2>/dev/null; then
            say "image: $image present"
            continue
        fi
        root=$(mktemp -d)
        mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
        chmod 1777 "$root/tmp"
        cp /bin/busybox "$root/bin/busybox"
        for applet in $("$root/bin/busybox" --list); do
            [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
        printf '%s\n' "$tag" >"$root/etc/ccci-image"
        say "image: building $image"
        tar -C "$root" -c . | docker import \
            --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$image" >/dev/null
        rm -rf "$root"
        docker push --quiet "$image" >/dev/null
    done
}

check_cli() {
    # ccci renders compose files with `docker stack config` (docker CLI 23+);
    # Debian's docker.io 20.10 CLI lacks it, so a newer one must come first.
    if ! docker stack config --help 2>/dev/null | grep -q -- '--compose-file'; then
        die "the docker CLI on PATH ($(command -v docker)) has no 'docker stack config'; put a docker CLI >= 23 first on PATH"
    fi
    say "docker CLI: $(docker version --format '{{.Client.Version}}' 2>/dev/null || echo unknown)"
}

need_root
install_packages
# The web pages' browser tests (bins/ccci-report) drive Debian's headless Chromium.
if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
    say "chromium: present"
else
    say "chromium: installing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
check_cli
start_dockerd
init_swarm
shared_network
start_registry
build_images
# Real server images (nginx, postgres, ...) from Debian packages, see images/README.md.
"$(dirname "${BASH_SOURCE[0]}")/images.sh"
say "ready"
