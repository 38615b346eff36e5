#!/usr/bin/env bash
# nox, installed if missing: `./nox.sh -s serve` runs Sentinel, `./nox.sh -s tests` tests it.
# It keeps nox in .venv-nox (Python packages never go to the system), and as root installs
# python3-venv through apt when Debian's Python lacks it.
set -euo pipefail
cd "$(dirname "$0")"
venv=.venv-nox
if [ ! -x "$venv/bin/nox" ]; then
  python=$(command -v python3.11 || command -v python3 || true)
  if [ -z "$python" ]; then
    echo "python3 not found: install the Debian package python3 (3.11)" >&2; exit 2
  fi
  if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    else
      echo "python3 cannot make virtual environments: install the Debian package python3-venv" >&2
      exit 2
    fi
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nox>=2024.4"
fi
exec "$venv/bin/nox" "$@"
