#!/usr/bin/env bash
# What builds and runs the images without a Docker engine: Debian's podman and buildah with the
# runc runtime, and debootstrap for the base image (docker/build-base.sh) where no image
# registry is reachable. Debian/Ubuntu, as root. Containers on such a machine may need
# `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024` (docker/build-images.sh passes both).
set -euo pipefail
missing=()
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-image-tools: podman, buildah, runc and debootstrap are installed"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "install-image-tools: run as root to apt-get install ${missing[*]}" >&2; exit 1; }
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends podman buildah runc debootstrap \
    containernetworking-plugins fuse-overlayfs slirp4netns uidmap
