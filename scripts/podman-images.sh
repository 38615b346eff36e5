#!/bin/bash
# podman-images.sh: the project's container images, built with podman on a machine that cannot
# pull from any container registry.
#
#   podman-images.sh base               the Debian base the Dockerfiles name in FROM, made with
#                                       debootstrap and tagged locally (cached)
#   podman-images.sh build IMAGE...     containers/base, then each containers/IMAGE, unchanged
#   podman-images.sh podman ARGS...     podman with this machine's settings (below)
#
# Why a debootstrapped base: containers/base/Dockerfile starts FROM debian:12.12-slim; where no
# registry can be reached, a bookworm minbase made by debootstrap from this machine's own apt
# mirror (read at run time from /etc/apt/sources.list.d, never written down) is imported and
# tagged with that name. Its apt sources are the official image's: bookworm, bookworm-updates and
# bookworm-security (the Dockerfiles pin versions that only the security suite still carries).
# The rootfs is cached as a tar under $SENTINEL_PODMAN_CACHE (default /var/cache/sentinel-podman).
#
# Machine settings, none of them in the Dockerfiles:
# - runc, not crun (crun refuses a cgroup v1/v2 hybrid host); cgroupfs, not systemd;
# - every build and container nests under the caller's own memory cgroup (never elsewhere on a
#   host whose own tooling uses the v1 hierarchy), each build under a parent of its own;
# - podman's default rlimits are lowered to what the caller has (root here lacks
#   CAP_SYS_RESOURCE and cannot raise them);
# - pip inside the base build sees this machine's CA bundle and pip configuration through build
#   mounts (`podman build -v`), so nothing of the machine is baked into an image.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SENTINEL_PODMAN_CACHE:-/var/cache/sentinel-podman}
SUITE=bookworm
FROM_NAME=docker.io/library/debian:12.12-slim
BASE_IMAGE=localhost/sentinel/base:latest

say() { printf '[podman-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'podman-images: %s\n' "$*" >&2; exit 2; }

memory_cgroup() { awk -F: '$2=="memory"{print $3; exit}' /proc/self/cgroup; }

settings() {
    mkdir -p "$CACHE"
    local nofile
    nofile=$(ulimit -Hn)
    cat > "$CACHE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
CONF
    export CONTAINERS_CONF="$CACHE/containers.conf"
}

P() { settings; podman --cgroup-manager=cgroupfs --runtime=runc "$@"; }

packages() {
    command -v podman >/dev/null && command -v debootstrap >/dev/null && command -v runc >/dev/null \
        && command -v catatonit >/dev/null && return 0
    [ "$(id -u)" = 0 ] || die "needs the Debian packages podman, runc, debootstrap and catatonit (apt-get install podman runc debootstrap catatonit)"
    say "installing podman, runc, debootstrap, catatonit"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap catatonit \
        fuse-overlayfs slirp4netns uidmap >/dev/null
}

uri_of() {  # the apt source URI whose Suites name $1
    awk -v want="$1" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==want){print u; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1
}

base() {
    packages
    if P image exists "$FROM_NAME"; then return 0; fi
    local tar=$CACHE/rootfs-$SUITE.tar mirror security
    if [ ! -s "$tar" ]; then
        mirror=$(uri_of "$SUITE"); security=$(uri_of "$SUITE-security")
        [ -n "$mirror" ] || die "no apt source for $SUITE in /etc/apt/sources.list.d"
        [ -n "$security" ] || security=$mirror
        local root=$CACHE/rootfs.tmp
        rm -rf "$root"
        say "debootstrap $SUITE minbase (a few minutes)"
        debootstrap --variant=minbase "$SUITE" "$root" "$mirror" > "$CACHE/debootstrap.log" 2>&1 \
            || { tail -5 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
        rm -f "$root/etc/apt/sources.list"
        cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
        tar -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
        rm -rf "$root"
    fi
    say "importing the rootfs as $FROM_NAME"
    P import "$tar" "$FROM_NAME" >/dev/null
}

build_one() {  # IMAGE: containers/IMAGE/Dockerfile from the repository root
    local image=$1 parent tag
    parent="$(memory_cgroup)/podman-build-$image"
    tag="localhost/sentinel/$image:latest"
    local mounts=()
    if [ "$image" = base ]; then
        local cert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
        printf '[global]\ncert = /etc/ssl/host-ca.crt\n' > "$CACHE/pip.conf"
        mounts=(-v "$CACHE/pip.conf:/etc/pip.conf:ro" -v "$cert:/etc/ssl/host-ca.crt:ro")
    fi
    say "building $tag"
    (cd "$HERE" && P build --cgroup-parent="$parent" --network=host "${mounts[@]}" \
        -f "containers/$image/Dockerfile" -t "$tag" . > "$CACHE/build-$image.log" 2>&1) \
        || { tail -15 "$CACHE/build-$image.log" >&2; die "build of $image failed"; }
}

build() {
    base
    build_one base
    local image
    for image in "$@"; do
        [ "$image" = base ] && continue
        [ -f "$HERE/containers/$image/Dockerfile" ] || die "no containers/$image/Dockerfile"
        build_one "$image"
    done
}

case "${1:-}" in
    base) base ;;
    build) shift; build "$@" ;;
    podman) shift; P "$@" ;;
    *) die "usage: $0 base | build IMAGE... | podman ARGS..." ;;
esac
