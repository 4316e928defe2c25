#!/bin/sh
# What `make bench` needs beyond scripts/install-deps.sh: gnuplot (Debian's
# gnuplot-nox, no X) for the wake-latency plot. Idempotent.
set -eu
command -v gnuplot >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-bench-deps: need root to install gnuplot-nox" >&2; exit 1
    fi
else
    SUDO=""
fi
echo "install-bench-deps: installing gnuplot-nox"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gnuplot-nox >/dev/null
