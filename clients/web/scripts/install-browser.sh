#!/usr/bin/env bash
# Chromium for the browser tests, from Debian's packages (Playwright never downloads a browser
# here). `make test` runs this in CI (CI=true) as root where apt-get exists; elsewhere it changes
# nothing and check-tools.sh says what to install.
set -euo pipefail
chromium="${LECTERN_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium" ]] && exit 0
if [[ -n "${CI:-}" && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
