#!/bin/sh
# Puts the Go daemon inertd into priv/inertd. rebar3 runs it (pre_hooks)
# from the application's directory: erlang/inert/ of the repository, or the
# top of a source package (make package).
#
# INERTD=/path/to/inertd installs that binary and needs no Go. Otherwise
# inertd is built with go (GO_MIN or newer) from the first place its
# sources are found, without network access (the Go modules it needs are
# vendored):
#   go-src/      a source package, where make package put them;
#   ../../       a full checkout of the repository (the repository itself,
#                a _checkouts link to a clone, mix's subdir:);
#   the clone's own git objects, when only erlang/inert/ is checked out
#                (rebar3's git_subdir and mix's sparse: keep the whole
#                clone but check out one directory): git archive of HEAD.
#
# `sh build_inertd.sh --go-paths` prints the repository paths inertd is
# built from (make package packs the same ones).
set -eu

GO_MIN=1.22
GO_PATHS="go.mod go.sum vendor cmd/inertd driver internal iohandle pollset protocol"

if [ "${1:-}" = "--go-paths" ]; then
    echo "$GO_PATHS"
    exit 0
fi

fail() {
    echo "inert: $*" >&2
    exit 1
}

here=$(pwd -P)
priv=$here/priv
tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

# install_file FILE: copies FILE to priv/inertd (atomically, so a running
# inertd is not overwritten in place).
install_file() {
    mkdir -p "$priv"
    case "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")" in
        "$priv/inertd") return 0 ;;
    esac
    cp "$1" "$priv/.inertd.tmp"
    chmod 755 "$priv/.inertd.tmp"
    mv -f "$priv/.inertd.tmp" "$priv/inertd"
}

if [ -n "${INERTD:-}" ]; then
    [ -f "$INERTD" ] && [ -x "$INERTD" ] || fail "INERTD=$INERTD is not an executable file"
    install_file "$INERTD"
    exit 0
fi

command -v go >/dev/null 2>&1 ||
    fail "building priv/inertd needs Go $GO_MIN or newer on PATH (Debian: apt-get install golang-go), or INERTD=/path/to/inertd"

# src: the directory holding go.mod and cmd/inertd, made from the clone's
# objects when they are not checked out.
if [ -f "$here/go-src/go.mod" ]; then
    src=$here/go-src
elif [ -f "$here/../../go.mod" ] && [ -d "$here/../../cmd/inertd" ]; then
    src=$(cd "$here/../.." && pwd -P)
elif top=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) &&
    [ "$(git -C "$here" rev-parse --show-prefix)" = "erlang/inert/" ] &&
    git -C "$top" cat-file -e HEAD:cmd/inertd 2>/dev/null; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/inertd-src.XXXXXX")
    # shellcheck disable=SC2086 # GO_PATHS is a list of paths
    git -C "$top" archive --format=tar HEAD -- $GO_PATHS | tar -x -C "$tmp"
    src=$tmp
else
    fail "the Go sources of inertd are not here (no go-src/, no ../../go.mod, no git clone of the repository around $here); set INERTD=/path/to/inertd"
fi

mkdir -p "$priv"
cd "$src"
# -buildvcs=false: a dependency checkout is no place to stamp (or fail to
# read) version control information.
CGO_ENABLED=0 go build -mod=vendor -buildvcs=false -trimpath -o "$priv/.inertd.tmp" ./cmd/inertd
mv -f "$priv/.inertd.tmp" "$priv/inertd"
