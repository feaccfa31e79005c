#!/usr/bin/env bash
# Build the project's image with buildah, without Docker and without pulling from a registry.
#
#   scripts/build_image.sh [--image NAME] [--base NAME] [--mirror URI] [--suite SUITE] [--rebuild-base]
#                          [-- EXTRA BUILDAH BUD ARGS]
#
# 1. The base: a Debian image with python3 and python3-venv, made with debootstrap from a Debian mirror and
#    committed to buildah's local storage as --base. Made once: an image of that name already in the storage is
#    reused (--rebuild-base remakes it). Any other Debian-based image with python3 and venv works as --base
#    (e.g. docker.io/library/python:3.11-slim where a registry is reachable: pulled once).
# 2. The Dockerfile built on it (`--build-arg BASE_IMAGE=...`) with `buildah bud --layers`, so the dependency
#    layer is reused until pyproject.toml changes. pip inside the build verifies TLS with the host's CA bundle
#    (mounted read-only), which also trusts whatever proxy this host's own pip goes through.
#
# Run it as root (debootstrap and buildah's chroot isolation need it). Then, e.g.:
#   ctr=$(buildah from prefect-mlops-pipeline)
#   buildah run --isolation chroot "$ctr" -- python flows/pipeline.py
#   buildah rm "$ctr"
#
# Options (and the environment variables they override):
#   --image NAME     the image to build                (IMAGE, default prefect-mlops-pipeline)
#   --base NAME      the base image                    (BASE_IMAGE, default localhost/mlops-debian-python:SUITE;
#                                                       a localhost/ name is made with debootstrap if absent,
#                                                       any other is pulled if absent)
#   --mirror URI     Debian mirror for debootstrap     (DEBIAN_MIRROR, default: the first apt source of SUITE on
#                                                       this host, else http://deb.debian.org/debian)
#   --suite SUITE    Debian release of the base        (DEBIAN_SUITE, default bookworm: Python 3.11)
#   --rebuild-base   make the (localhost/) base again even if it exists
#   CA_BUNDLE        the CA bundle mounted into the build (default /etc/ssl/certs/ca-certificates.crt, if present)
#   BUILDAH_ISOLATION  buildah's isolation (default chroot: works where no OCI runtime may set up namespaces)
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

image="${IMAGE:-prefect-mlops-pipeline}"
suite="${DEBIAN_SUITE:-bookworm}"
base="${BASE_IMAGE:-}"
mirror="${DEBIAN_MIRROR:-}"
rebuild_base=0
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

while [ $# -gt 0 ]; do
    case "$1" in
        --image) image="$2"; shift 2 ;;
        --base) base="$2"; shift 2 ;;
        --mirror) mirror="$2"; shift 2 ;;
        --suite) suite="$2"; shift 2 ;;
        --rebuild-base) rebuild_base=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) echo "build_image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
base="${base:-localhost/mlops-debian-python:$suite}"
project_dir="$(cd "$(dirname "$0")/.." && pwd)"

require() {
    command -v "$1" >/dev/null || {
        echo "build_image.sh: $1 is not installed (apt-get install -y $2)" >&2
        exit 1
    }
}

# The first URI this host's apt sources give for $suite (deb822 .sources files and one-line .list files).
apt_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v suite="$suite" '
            /^[[:space:]]*$/ { if (uri != "" && found) print uri; uri = ""; found = 0; next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            END { if (uri != "" && found) print uri }
        ' "$file"
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -E 's/\[[^]]*\]//' "$file" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2 }'
    done
}

base_workdir=""
base_container=""
remove_base_leftovers() {
    if [ -n "$base_container" ]; then buildah rm "$base_container" >/dev/null 2>&1 || true; fi
    # --one-file-system: never into /proc or /sys that an interrupted debootstrap left mounted in the rootfs
    if [ -n "$base_workdir" ]; then rm -rf --one-file-system "$base_workdir"; fi
}

make_base() {
    require debootstrap debootstrap
    if [ -z "$mirror" ]; then
        mirror="$(apt_mirror | head -n 1)"
        mirror="${mirror:-http://deb.debian.org/debian}"
    fi
    local started=$SECONDS
    trap remove_base_leftovers EXIT
    base_workdir="$(mktemp -d "${TMPDIR:-/var/tmp}/mlops-base.XXXXXX")"
    echo "build_image.sh: making the base $base: debootstrap $suite from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$base_workdir/rootfs" "$mirror" \
        >"$base_workdir/debootstrap.log" 2>&1 || {
        tail -n 30 "$base_workdir/debootstrap.log" >&2
        exit 1
    }
    # what Debian's own container images leave out: downloaded packages and package lists
    rm -rf "$base_workdir"/rootfs/var/cache/apt/archives/*.deb "$base_workdir"/rootfs/var/lib/apt/lists/*
    tar -C "$base_workdir/rootfs" -cf "$base_workdir/rootfs.tar" .
    base_container="$(buildah from scratch)"
    buildah add --quiet "$base_container" "$base_workdir/rootfs.tar" / >/dev/null
    buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$base_container"
    buildah commit --quiet --rm "$base_container" "$base" >/dev/null
    base_container=""
    remove_base_leftovers
    base_workdir=""
    trap - EXIT
    echo "build_image.sh: base $base made in $((SECONDS - started)) s"
}

require buildah buildah
if [ "$(id -u)" -ne 0 ]; then
    echo "build_image.sh: run it as root (debootstrap and buildah's chroot isolation need it)" >&2
    exit 1
fi
# One build at a time on this machine (CI starts one in the background and the image test runs the script again):
# the second waits here, then finds the base and every layer made.
lock="/var/tmp/mlops-build-image.lock"
exec 9>"$lock"
if ! flock --nonblock 9; then
    echo "build_image.sh: waiting for another build to finish ($lock)"
    flock 9
fi
if buildah inspect --type image "$base" >/dev/null 2>&1 && [ "$rebuild_base" -eq 0 ]; then
    echo "build_image.sh: reusing the base $base (--rebuild-base to make it again)"
elif [[ "$base" == localhost/* ]]; then
    make_base
elif [ "$rebuild_base" -eq 1 ]; then
    echo "build_image.sh: --rebuild-base makes localhost/ images only; $base comes from its registry" >&2
    exit 2
fi  # else buildah pulls $base (a registry image) once

bud_args=(--layers --pull=false --build-arg "BASE_IMAGE=$base" --tag "$image")
if [ -f "$ca_bundle" ]; then
    bud_args+=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
fi
started=$SECONDS
buildah bud "${bud_args[@]}" "$@" "$project_dir"
echo "build_image.sh: $image built in $((SECONDS - started)) s"
