#!/usr/bin/env bash
# Build the rig's server images from Debian packages and push them to the rig's
# registry (127.0.0.1:5000), rebuilding only what changed.
#
#   scripts/images.sh [--list] [NAME...]
#
# Each image is a folder images/NAME/ holding image.conf (suite, packages,
# tags, entrypoint, user, ports, env; see images/README.md), an optional
# customize.sh run inside the new root and an optional rootfs/ tree copied into
# it. An image's definition hash covers every file of its folder and this
# script's build recipe; the image carries it as the label
# ccci.image.definition. When every tag of an image in the registry carries the
# current hash, nothing is built ("images: NAME up to date (HASH)"); otherwise
# mmdebstrap builds a root file system from the host's Debian sources, `docker
# import` turns it into an image and every tag is pushed. Images are built one
# after the other. --list prints each image's hash, state and tags, and builds
# nothing.
#
# A failure is one line on stderr, "images: NAME: STEP failed: REASON" with
# STEP one of definition, debootstrap, import, push, and a non-zero exit; the
# whole log of the last build of NAME is in $CCCI_RIG_DIR/images/NAME.log.
# Set CCCI_IMAGES_FORCE=1 to rebuild even what is up to date (for example to
# take in Debian security updates).
set -euo pipefail

# Bump when the way images are built changes in a way the functions hashed in
# definition_hash do not show.
recipe_version=1
registry=127.0.0.1:5000
rig=${CCCI_RIG_DIR:-/var/lib/ccci-rig}
state=$rig/images
self=$(readlink -f "${BASH_SOURCE[0]}")
defs=${CCCI_IMAGES_DIR:-$(dirname "$self")/../images}
fields=(SUITE PACKAGES TAGS ENTRYPOINT CMD USER WORKDIR EXPOSE ENV VOLUMES HEALTHCHECK)
# The fields of the definition being handled (set by load_definition).
def_SUITE='' def_PACKAGES='' def_TAGS='' def_ENTRYPOINT='' def_CMD='' def_USER=''
def_WORKDIR='' def_EXPOSE='' def_ENV='' def_VOLUMES='' def_HEALTHCHECK=''

say() { printf 'images: %s\n' "$*"; }
# fail NAME STEP REASON: the one line a failure prints.
fail() {
    printf 'images: %s: %s failed: %s\n' "$1" "$2" "${3:-see $state/$1.log}" >&2
    exit 1
}

# The first line of a log that says what went wrong: apt's and mmdebstrap's
# "E: " lines first, else the first line naming an error, else the last line.
first_error() {
    local line
    line=$(grep -m1 '^E: ' "$1" | sed 's/^E: //') || true
    [ -n "$line" ] || line=$(grep -m1 -iE 'error|denied|not found|no such|cannot|failed' "$1") || true
    [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$1" | tail -1) || true
    printf '%s' "${line:0:300}"
}

# ---- the build recipe: everything below up to "end of the build recipe" -----
# ---- is part of every definition hash (declare -f, so not its comments) -----

# Run by mmdebstrap as its hooks (this script calls itself): ROOT is the new
# root file system, DEF the image's definition folder.
hook_setup() {
    local root=$1
    # No documentation, manual pages or translations in the packages
    # installed after the essential set (those are removed in hook_customize).
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
        'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
        'path-exclude=/usr/share/lintian/*' >"$root/etc/dpkg/dpkg.cfg.d/90-ccci-nodoc"
}

hook_customize() {
    local root=$1 def=$2 f mode
    if [ -d "$def/rootfs" ]; then
        # Files only, owned by root, mode 0755 or 0644 as git would check them out.
        (cd "$def/rootfs" && find . -type f -print) | LC_ALL=C sort | while IFS= read -r f; do
            mode=0644
            [ -x "$def/rootfs/$f" ] && mode=0755
            install -D -o 0 -g 0 -m "$mode" "$def/rootfs/$f" "$root/${f#./}"
        done
    fi
    # mmdebstrap's own cleanup of /run is skipped so that customize.sh can
    # leave directories there (postgres's socket directory); do it here.
    find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf {} +
    if [ -f "$def/customize.sh" ]; then
        install -m 0755 "$def/customize.sh" "$root/ccci-customize.sh"
        # Its first error line, as an "E: " line, is what a failure reports.
        if ! chroot "$root" /bin/sh -eu /ccci-customize.sh 2>"$root/ccci-customize.err"; then
            cat "$root/ccci-customize.err" >&2
            printf 'E: customize.sh: %s\n' "$(grep -m1 . "$root/ccci-customize.err" || echo "exited non-zero")" >&2
            exit 1
        fi
        cat "$root/ccci-customize.err" >&2
        rm -f "$root/ccci-customize.sh" "$root/ccci-customize.err"
    fi
    # What the essential packages brought in before the dpkg filters applied,
    # and what the build leaves behind.
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian" \
        "$root/var/cache/debconf"/*-old "$root/var/lib/dpkg"/*-old \
        "$root/var/log/dpkg.log" "$root/var/log/alternatives.log" "$root/var/log/apt" \
        "$root/var/cache/ldconfig/aux-cache"
}

# build_rootfs NAME DEF TAR LOG: the root file system of one image as a tarball.
build_rootfs() {
    local name=$1 def=$2 tar=$3 log=$4 sources=() codename='' include
    # The host's Debian sources when the suite is the host's own (so the image
    # gets the packages the host gets); mmdebstrap's default mirror otherwise.
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    if [ "$def_SUITE" = "$codename" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sources=(/etc/apt/sources.list.d/debian.sources)
    elif [ "$def_SUITE" = "$codename" ] && [ -s /etc/apt/sources.list ]; then
        sources=(/etc/apt/sources.list)
    fi
    local aptopts=()
    if apt-config dump 2>/dev/null | grep -qx 'Acquire::Check-Valid-Until "false";'; then
        aptopts=(--aptopt='Acquire::Check-Valid-Until "false"')
    fi
    # shellcheck disable=SC2086 # PACKAGES is a list
    include=$(printf '%s,' $def_PACKAGES)
    mmdebstrap --mode=root --variant=essential --format=tar --include="${include%,}" \
        --skip=cleanup/run \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
        "${aptopts[@]}" \
        --setup-hook="$(printf '%q ' "$self" --hook setup)\"\$1\"" \
        --customize-hook="$(printf '%q ' "$self" --hook customize)\"\$1\" $(printf '%q' "$def")" \
        "$def_SUITE" "$tar" "${sources[@]}" >"$log" 2>&1
}

# import_image NAME HASH TAR: the tarball as an image, under the first tag.
import_image() {
    local name=$1 hash=$2 tar=$3 changes=() word versions
    # The Debian versions of the listed packages, as a label, so `docker
    # inspect` tells what an image holds.
    # shellcheck disable=SC2086 # PACKAGES is a list
    versions=$(tar -xOf "$tar" ./var/lib/dpkg/status | awk -v want=" $(printf '%s ' $def_PACKAGES)" '
        /^Package: / { p = $2 } /^Version: / && index(want, " " p " ") { printf "%s%s=%s", sep, p, $2; sep = " " }')
    changes+=(--change "LABEL ccci.image.name=$name" --change "LABEL ccci.image.definition=$hash"
        --change "LABEL ccci.image.debian=\"$versions\"")
    # Not a HEALTHCHECK (the upstream images have none): what recipes should
    # put in their compose file, for `docker inspect` to show.
    [ -z "$def_HEALTHCHECK" ] || changes+=(--change "LABEL ccci.image.healthcheck='$def_HEALTHCHECK'")
    [ -z "$def_ENTRYPOINT" ] || changes+=(--change "ENTRYPOINT $def_ENTRYPOINT")
    [ -z "$def_CMD" ] || changes+=(--change "CMD $def_CMD")
    [ -z "$def_USER" ] || changes+=(--change "USER $def_USER")
    [ -z "$def_WORKDIR" ] || changes+=(--change "WORKDIR $def_WORKDIR")
    for word in $def_EXPOSE; do changes+=(--change "EXPOSE $word"); done
    for word in $def_ENV; do changes+=(--change "ENV $word"); done
    for word in $def_VOLUMES; do changes+=(--change "VOLUME $word"); done
    docker import "${changes[@]}" "$tar" "${def_TAGS%% *}"
}

# ---- end of the build recipe -------------------------------------------------

# definition_hash DIR: sha256 over the build recipe and every file of DIR
# (path, executable bit, content).
definition_hash() {
    local dir=$1
    {
        printf 'ccci images recipe %s\n' "$recipe_version"
        declare -f hook_setup hook_customize build_rootfs import_image
        (cd "$dir" && find . \( -type f -o -type l \) -print | LC_ALL=C sort | while IFS= read -r f; do
            if [ -L "$f" ]; then
                printf 'link %s %s\n' "$f" "$(readlink "$f")"
            else
                printf '%s %s %s\n' "$([ -x "$f" ] && echo x || echo -)" "$f" "$(sha256sum <"$f" | cut -c1-64)"
            fi
        done)
    } | sha256sum | cut -c1-64
}

# load_definition NAME DIR: sets def_FIELD for each field of DIR/image.conf,
# sourced in a subshell so it cannot touch this script's variables.
load_definition() {
    local name=$1 dir=$2 out tag
    [ -f "$dir/image.conf" ] || fail "$name" definition "no $dir/image.conf"
    out=$(
        unset "${fields[@]}"
        # shellcheck disable=SC1091
        . "$dir/image.conf" >/dev/null
        for f in "${fields[@]}"; do printf 'def_%s=%q\n' "$f" "${!f-}"; done
    ) || fail "$name" definition "image.conf does not source cleanly"
    eval "$out"
    [ -n "$def_SUITE" ] || fail "$name" definition "image.conf sets no SUITE"
    [ -n "$def_PACKAGES" ] || fail "$name" definition "image.conf sets no PACKAGES"
    [ -n "$def_TAGS" ] || fail "$name" definition "image.conf sets no TAGS"
    [ -n "$def_CMD$def_ENTRYPOINT" ] || fail "$name" definition "image.conf sets neither CMD nor ENTRYPOINT"
    case $def_HEALTHCHECK in *"'"*) fail "$name" definition "HEALTHCHECK must not contain a single quote" ;; esac
    for tag in $def_TAGS; do
        case $tag in
            "$registry"/*:*) ;;
            *) fail "$name" definition "tag $tag is not REPOSITORY:TAG in the rig registry $registry" ;;
        esac
    done
}

# registry_hash TAG: the definition hash the registry's image for TAG carries,
# or nothing.
registry_hash() {
    local ref=${1#"$registry"/} manifest digest
    manifest=$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$registry/v2/${ref%:*}/manifests/${ref##*:}" 2>/dev/null) || return 0
    digest=$(printf '%s' "$manifest" | tr -d ' \n\t' |
        sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p')
    [ -n "$digest" ] || return 0
    curl -fsS "http://$registry/v2/${ref%:*}/blobs/$digest" 2>/dev/null | tr -d '\n' |
        sed -n 's/.*"ccci\.image\.definition":"\([0-9a-f]*\)".*/\1/p'
}

up_to_date() {
    local hash=$1 tag
    [ "${CCCI_IMAGES_FORCE:-0}" != 1 ] || return 1
    for tag in $def_TAGS; do
        [ "$(registry_hash "$tag")" = "$hash" ] || return 1
    done
}

mb() { docker image inspect -f '{{.Size}}' "$1" 2>/dev/null | awk '{ printf "%d MB", $1 / 1000000 }'; }

# push_tags NAME LOG: every tag of the image (the first one holds it).
push_tags() {
    local name=$1 log=$2 tag out first=${def_TAGS%% *}
    for tag in $def_TAGS; do
        [ "$tag" = "$first" ] || docker tag "$first" "$tag"
        if ! out=$(docker push --quiet "$tag" 2>&1); then
            printf '%s\n' "$out" >>"$log"
            fail "$name" push "$tag: $(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -1)"
        fi
    done
}

# build NAME DIR HASH
build() {
    local name=$1 dir=$2 hash=$3 log=$state/$1.log work start out old id
    start=$SECONDS
    say "$name building (${hash:0:12}) from $def_SUITE: $def_PACKAGES"
    work=$(mktemp -d "${TMPDIR:-/tmp}/ccci-image.XXXXXX")
    # shellcheck disable=SC2064 # expand now: work is local
    trap "rm -rf '$work'" EXIT
    build_rootfs "$name" "$dir" "$work/rootfs.tar" "$log" || fail "$name" debootstrap "$(first_error "$log")"
    if ! out=$(import_image "$name" "$hash" "$work/rootfs.tar" 2>&1); then
        printf '%s\n' "$out" >>"$log"
        fail "$name" import "$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -1)"
    fi
    id=$(printf '%s' "$out" | tail -1)
    rm -rf "$work"
    trap - EXIT
    push_tags "$name" "$log"
    # Earlier builds of this image, unless a container still uses them.
    for old in $(docker image ls -q --no-trunc --filter "label=ccci.image.name=$name"); do
        [ "$old" = "$id" ] || docker rmi -f "$old" >/dev/null 2>&1 || true
    done
    say "$name built in $((SECONDS - start)) s, $(mb "${def_TAGS%% *}"): $def_TAGS"
}

main() {
    local list=0 names=() name dir hash built=() pushed=() fresh=0 start=$SECONDS local_id summary
    while [ $# -gt 0 ]; do
        case $1 in
            --list) list=1 ;;
            --hook)
                # mmdebstrap calling back: --hook setup ROOT | --hook customize ROOT DEF
                shift
                case $1 in
                    setup) hook_setup "$2" ;;
                    customize) hook_customize "$2" "$3" ;;
                esac
                exit 0
                ;;
            -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self"; exit 0 ;;
            -*) printf 'images: unknown option %s\n' "$1" >&2; exit 2 ;;
            *) names+=("$1") ;;
        esac
        shift
    done
    [ -d "$defs" ] || { printf 'images: no definitions folder %s\n' "$defs" >&2; exit 1; }
    defs=$(cd "$defs" && pwd)
    if [ ${#names[@]} -eq 0 ]; then
        for dir in "$defs"/*/; do
            [ -f "$dir/image.conf" ] && names+=("$(basename "$dir")")
        done
    fi

    if [ "$list" = 1 ]; then
        for name in "${names[@]}"; do
            load_definition "$name" "$defs/$name"
            hash=$(definition_hash "$defs/$name")
            if up_to_date "$hash"; then
                printf '%-14s %s  up to date  %-7s %s\n' "$name" "${hash:0:12}" "$(mb "${def_TAGS%% *}")" "$def_TAGS"
            else
                printf '%-14s %s  needs build %-7s %s\n' "$name" "${hash:0:12}" "" "$def_TAGS"
            fi
        done
        return
    fi

    [ "$(id -u)" -eq 0 ] || { printf 'images: must run as root (mmdebstrap --mode=root)\n' >&2; exit 1; }
    command -v mmdebstrap >/dev/null || { printf 'images: mmdebstrap is not installed (scripts/rig.sh installs it)\n' >&2; exit 1; }
    mkdir -p "$state"
    # One build at a time on this machine.
    exec 9>"$state/lock"
    flock -w 1800 9 || { printf 'images: another images.sh holds %s\n' "$state/lock" >&2; exit 1; }

    for name in "${names[@]}"; do
        dir=$defs/$name
        load_definition "$name" "$dir"
        hash=$(definition_hash "$dir")
        if up_to_date "$hash"; then
            say "$name up to date (${hash:0:12})"
            fresh=$((fresh + 1))
            continue
        fi
        local_id=$(docker image ls -q --filter "label=ccci.image.definition=$hash" | head -1)
        if [ -n "$local_id" ] && [ "${CCCI_IMAGES_FORCE:-0}" != 1 ]; then
            # Built before but missing from the registry: push what is here.
            docker tag "$local_id" "${def_TAGS%% *}"
            push_tags "$name" "$state/$name.log"
            say "$name pushed from the local image (${hash:0:12}): $def_TAGS"
            pushed+=("$name")
        else
            build "$name" "$dir" "$hash"
            built+=("$name")
        fi
    done
    if [ $((${#built[@]} + ${#pushed[@]})) -eq 0 ]; then
        say "all $fresh up to date, nothing built"
    else
        summary=""
        [ ${#built[@]} -eq 0 ] || summary="built ${built[*]}"
        [ ${#pushed[@]} -eq 0 ] || summary="${summary:+$summary, }pushed ${pushed[*]}"
        say "$summary in $((SECONDS - start)) s; $fresh up to date"
    fi
}

main "$@"
