#!/usr/bin/env bash
# Build one image per service from docker/Dockerfile: `docker/build-images.sh [service...]`
# (default: every directory under services/). Tags are $IMAGE_REGISTRY/<service>:$IMAGE_TAG,
# the names the chart's values.yaml (image.registry, image.tag) pull.
#
# Engine: $ENGINE, else podman, buildah or docker, whichever is found first. Where no image
# registry is reachable, build the base first (docker/build-base.sh) and pass
# BASE_IMAGE=localhost/lectern-base:bookworm. The RUN steps install from PyPI, so the build uses
# the host's network (BUILD_NETWORK=host by default; set it empty for the engine's default).
# Containers on some hosts need small ulimits (BUILD_ULIMITS, default nofile and nproc 1024).
# Behind a TLS-inspecting proxy, BUILD_CA_BUNDLE (default: $SSL_CERT_FILE when set) is handed to
# the build as the secret "ca-bundle", used by pip and uv and kept out of the image.
# Each build leaves its build stage as an untagged image (the layer cache of the next build);
# PRUNE_OLDER_THAN=2h removes untagged images older than that afterwards (podman, docker).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_REGISTRY=${IMAGE_REGISTRY:-ghcr.io/lectern}
IMAGE_TAG=${IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/lectern/Chart.yaml)}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim}
BUILD_NETWORK=${BUILD_NETWORK-host}
BUILD_ULIMITS=${BUILD_ULIMITS-nofile=1024:1024 nproc=1024:1024}

engine=${ENGINE:-}
if [ -z "$engine" ]; then
    for candidate in podman buildah docker; do
        if command -v "$candidate" >/dev/null; then engine=$candidate; break; fi
    done
fi
[ -n "$engine" ] || { echo "build-images: no podman, buildah or docker on PATH" >&2; exit 1; }

if [ $# -gt 0 ]; then services=("$@"); else services=(); for d in services/*/; do services+=("$(basename "$d")"); done; fi

flags=(-f docker/Dockerfile --build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -n "$BUILD_NETWORK" ] && flags+=(--network "$BUILD_NETWORK")
for limit in $BUILD_ULIMITS; do flags+=(--ulimit "$limit"); done
CA_BUNDLE=${BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-}}
[ -n "$CA_BUNDLE" ] && [ -s "$CA_BUNDLE" ] && flags+=(--secret "id=ca-bundle,src=$CA_BUNDLE")
build=("$engine" build)
[ "$engine" = buildah ] && build=(buildah bud)

for service in "${services[@]}"; do
    [ -d "services/$service" ] || { echo "build-images: no services/$service" >&2; exit 1; }
    tag="$IMAGE_REGISTRY/$service:$IMAGE_TAG"
    echo "build-images: $tag ($engine, base $BASE_IMAGE)"
    "${build[@]}" "${flags[@]}" --build-arg "SERVICE=$service" -t "$tag" .
done
if [ -n "${PRUNE_OLDER_THAN:-}" ] && [ "$engine" != buildah ]; then
    "$engine" image prune -f --filter "until=$PRUNE_OLDER_THAN" >/dev/null
fi
