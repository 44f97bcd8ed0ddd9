#!/usr/bin/env bash
# Usage: ensure-debian-package.sh COMMAND PACKAGE WHAT-NEEDS-IT
# Some tests drive real system programs (redis-server for the workers, chromium for the web page, PostgreSQL for
# the shared store). Installs the Debian package when its command is missing and we are root; otherwise says
# exactly what to install.
set -euo pipefail
command_name=$1 package=$2 needed_by=$3
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "$command_name is missing; installing Debian's $package package for the $needed_by" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "$package" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$package" >/dev/null; }
  exit 0
fi
echo "The $needed_by need $command_name: run 'sudo apt-get install -y $package' (Debian/Ubuntu) and try again." >&2
exit 1
