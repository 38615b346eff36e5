#!/usr/bin/env bash
# The Debian packages Sentinel needs on this machine: the sandbox (bubblewrap) and its
# seccomp library (libseccomp2, loaded by pyseccomp), the embedded
# Redis (redis-server, unless REDIS_URL is set), and every toolchain the language registry
# (functions/languages.toml) names. As root, missing ones are installed with apt; otherwise
# they are named, and the command fails. Arguments name further packages to ensure.
set -euo pipefail
cd "$(dirname "$0")/.."
wanted=(bubblewrap python3 libseccomp2)
[ -n "${REDIS_URL:-}" ] || wanted+=(redis-server)
mapfile -t registry < <(/usr/bin/env python3 - <<'PY'
import tomllib
with open("functions/languages.toml", "rb") as handle:
    for language in tomllib.load(handle).values():
        for package in language.get("packages", []):
            print(package)
PY
)
wanted+=("${registry[@]}")
wanted+=("$@")  # extra packages a session needs (the bench session: wrk)
missing=()
for package in $(printf '%s\n' "${wanted[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
