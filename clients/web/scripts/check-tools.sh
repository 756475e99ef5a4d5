#!/usr/bin/env bash
# What the web client and its browser tests need on this machine: Node.js (>= 20.19, with npm) and,
# with --browser, Chromium (Debian's package; Playwright never downloads one here).
# Exits non-zero with what to install: in CI a missing tool is a failure, never a skip.
set -euo pipefail

need_browser=0
[[ "${1:-}" == "--browser" ]] && need_browser=1
missing=()

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=("Node.js 20.19+ with npm (Debian/Ubuntu: apt-get install nodejs npm, or https://nodejs.org)")
else
  version="$(node -p 'process.versions.node')"
  major="${version%%.*}"
  minor="$(echo "$version" | cut -d. -f2)"
  if (( major < 20 || (major == 20 && minor < 19) )); then
    missing+=("Node.js 20.19+ (found $version): Vite 8 needs it")
  fi
fi

if (( need_browser )); then
  chromium="${LECTERN_CHROMIUM:-/usr/bin/chromium}"
  if [[ ! -x "$chromium" ]]; then
    missing+=("Chromium at $chromium (Debian: apt-get install -y chromium; or set LECTERN_CHROMIUM to a Chromium binary)")
  fi
fi

if (( ${#missing[@]} )); then
  echo "The web client's tests need tools this machine lacks; install:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  exit 1
fi
