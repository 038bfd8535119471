#!/bin/sh
# The real services the docker and registry collector tests drive (tests/services.py): podman (the
# engine, its Docker API on a unix socket), docker-registry (the distribution registry) and htpasswd
# (apache2-utils; a bcrypt htpasswd file for the registry's Basic auth); and chromium, the headless
# browser the web explorer's tests drive (tests/test_web.py, through tools/web-test); and wrk, the
# HTTP load generator of bench.http and bench.suite (tests/test_bench_suite.py).
#
# Idempotent: installs only what is missing, and only as root with apt-get (Debian, Ubuntu). Anywhere
# else it says what is missing and exits 0: those tests then skip locally and fail under CI=true
# (tests/components.py), so a missing service is never silently a pass in CI.
# Note: on a host with systemd, the docker-registry package also starts a registry on :5000.
set -eu

missing=""
command -v podman >/dev/null 2>&1 || missing="$missing podman"
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"

if [ -z "$missing" ]; then
    echo "test services: podman, docker-registry, htpasswd, chromium and wrk are installed; nothing to do"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test services: missing:$missing; install them (as root: apt-get install -y$missing)."
    echo "test services: until then the docker, registry and web tests skip here and fail under CI=true"
    exit 0
fi
echo "test services: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Try the package lists already there first; update them once only when that is not enough.
# shellcheck disable=SC2086  # $missing is a list of package names
if ! apt-get install -y -q $missing >/dev/null; then
    echo "test services: apt-get update, then install again"
    apt-get update -q >/dev/null
    apt-get install -y -q $missing >/dev/null
fi
echo "test services: installed$missing ($(podman --version 2>/dev/null || echo 'podman ?'))"
