#!/usr/bin/env bash
# Build the base image docker/Dockerfile starts from when no image registry can be reached:
# a minimal Debian bookworm root filesystem made with debootstrap (Python 3.11 from Debian,
# ca-certificates, python3-venv for the build stage), imported into podman/buildah's local
# storage as localhost/lectern-base:bookworm.
#
#   docker/build-base.sh            # once; later runs reuse the image
#   make images BASE_IMAGE=localhost/lectern-base:bookworm
#
# The packages come from the Debian mirror this machine's apt already uses (read from its
# sources), so nothing here names a mirror. Needs root, debootstrap and podman (or buildah);
# scripts/install-image-tools.sh installs them.
set -euo pipefail

IMAGE=${BASE_IMAGE:-localhost/lectern-base:bookworm}
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
cd "$(dirname "$0")/.."
WORK=.tools/base-image

if podman image exists "$IMAGE" 2>/dev/null && [ "${REBUILD:-0}" != 1 ]; then
    echo "base image $IMAGE already built (REBUILD=1 to make it again)"
    exit 0
fi

mirror() {
    # The first Debian archive URI in apt's sources (deb822 or one-line format).
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    if [ -z "$uri" ]; then
        uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    fi
    [ -n "$uri" ] || { echo "no Debian mirror found in apt's sources" >&2; exit 1; }
    echo "$uri"
}

rm -rf "$WORK" && mkdir -p "$WORK"
echo "debootstrap $SUITE ($PACKAGES) into $WORK/rootfs"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$WORK/rootfs" "$(mirror)" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log"; exit 1; }
# Smaller image: no apt lists, caches, docs or man pages.
rm -rf "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/var/cache/apt/* \
    "$WORK"/rootfs/usr/share/doc/* "$WORK"/rootfs/usr/share/man/* "$WORK"/rootfs/usr/share/locale/*
tar -C "$WORK/rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .
podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' "$WORK/rootfs.tar" "$IMAGE"
rm -rf "$WORK/rootfs" "$WORK/rootfs.tar"
podman image ls "$IMAGE"
