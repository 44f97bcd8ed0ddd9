#!/usr/bin/env bash
# The worker tests start a real redis-server (Debian's package). Installs it when it is missing and we are root;
# otherwise says exactly what to install.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server is missing; installing Debian's redis-server package for the worker tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y redis-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y redis-server >/dev/null; }
  exit 0
fi
echo "The worker tests need redis-server: run 'sudo apt-get install -y redis-server' (Debian/Ubuntu) and try again." >&2
exit 1
