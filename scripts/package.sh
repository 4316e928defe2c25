#!/bin/sh
# scripts/package.sh OUTDIR: writes OUTDIR/inert-VSN.tar.gz, the source
# package of the committed HEAD (the files a hex package is made from), and
# prints its path. Inside, inert-VSN/ is the application as rebar3 and mix
# build it: rebar.config, build_inertd.sh, build_docs.escript (the doc
# chunks), doc/overview.edoc, src/, README.md, LICENSE,
# CHANGELOG.md, and go-src/ with the Go sources inertd is built from (no
# tests) and their vendored modules. Nothing built; uncommitted changes
# are not in it.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
mkdir -p "$1"
out=$(cd "$1" && pwd -P)
app=erlang/inert

vsn=$(git -C "$root" show "HEAD:$app/src/inert.app.src" |
    sed -n 's/^ *{vsn, *"\([^"]*\)"}.*/\1/p')
[ -n "$vsn" ] || { echo "package: no vsn in $app/src/inert.app.src" >&2; exit 1; }
name=inert-$vsn

stage=$(mktemp -d "${TMPDIR:-/tmp}/inert-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$stage/$name/go-src"

git -C "$root" archive --format=tar HEAD -- \
    "$app/rebar.config" "$app/rebar.lock" "$app/build_inertd.sh" \
    "$app/build_docs.escript" "$app/doc/overview.edoc" "$app/src" |
    tar -x -C "$stage/$name" --strip-components=2
git -C "$root" archive --format=tar HEAD -- README.md LICENSE CHANGELOG.md |
    tar -x -C "$stage/$name"
# shellcheck disable=SC2046 # the list of paths build_inertd.sh builds from
git -C "$root" archive --format=tar HEAD -- \
    $(git -C "$root" show "HEAD:$app/build_inertd.sh" | sh -s -- --go-paths) |
    tar -x -C "$stage/$name/go-src"
# Tests are not needed to build inertd (vendor/ holds only what go.mod
# needs, tested or not, as go mod vendor wrote it).
find "$stage/$name/go-src" -path "$stage/$name/go-src/vendor" -prune -o \
    \( -name '*_test.go' -o -name testdata -prune \) -print |
    while read -r f; do rm -rf "$f"; done

tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name \
    --mtime="@$(git -C "$root" log -1 --format=%ct HEAD)" \
    -czf "$out/$name.tar.gz.tmp" "$name"
mv -f "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
echo "$out/$name.tar.gz"
