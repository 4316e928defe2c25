#!/bin/sh
# Builds the Go daemon into priv/inertd. Called by rebar3 (pre_hooks) from
# this directory; the Go module is two levels up.
set -eu
here=$(pwd)
root=$(cd "$here/../.." && pwd)
if [ ! -f "$root/go.mod" ] || [ ! -d "$root/cmd/inertd" ]; then
    echo "inert: the Go sources of inertd are not at $root (expected go.mod and cmd/inertd)" >&2
    exit 1
fi
command -v go >/dev/null 2>&1 || { echo "inert: 'go' is not on PATH; it is needed to build priv/inertd" >&2; exit 1; }
mkdir -p "$here/priv"
cd "$root"
CGO_ENABLED=0 go build -trimpath -o "$here/priv/inertd" ./cmd/inertd
