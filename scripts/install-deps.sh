#!/bin/sh
# Installs what `make test`, `make demo` and `make bench` need and a fresh
# Debian machine lacks: Erlang/OTP (erl, erlc, common_test, dialyzer),
# rebar3, gnuplot (the benchmarks' plot) and Elixir (the mix user projects
# of scripts/check-user-projects.sh) from Debian's packages, the Go modules
# of go.mod, and the Go toolchain of go.mod's go line (the oldest Go
# inertd supports, for make test-go-oldest) from the Go module proxy.
# Idempotent; once done, everything runs offline.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v erl >/dev/null 2>&1 || need="$need erlang-nox erlang-dev erlang-common-test erlang-dialyzer"
command -v rebar3 >/dev/null 2>&1 || need="$need rebar3"
command -v gnuplot >/dev/null 2>&1 || need="$need gnuplot-nox"
if [ -n "$need" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
            echo "install-deps: need root to install:$need" >&2; exit 1
        fi
    else
        SUDO=""
    fi
    echo "install-deps: installing$need"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
# Test-only Erlang modules (ct) must be present even when erl was there.
if ! erl -noshell -eval 'case code:which(ct) of non_existing -> halt(1); _ -> halt(0) end.' >/dev/null 2>&1; then
    echo "install-deps: installing erlang-common-test"
    ${SUDO:-} apt-get install -y -qq erlang-common-test >/dev/null
fi
# Elixir is optional: without it the user-project check skips the mix cases.
if ! command -v mix >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=none; fi
    echo "install-deps: installing elixir"
    if [ "$SUDO" = none ] || ! { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq elixir >/dev/null; }; then
        echo "install-deps: could not install elixir; the mix user projects of make test-user-projects will be skipped" >&2
    fi
fi
command -v go >/dev/null 2>&1 || { echo "install-deps: Go is required (it is on the machine image)" >&2; exit 1; }
go mod download
oldest=go$(sed -n 's/^go //p' go.mod)
GOTOOLCHAIN=$oldest go version >/dev/null ||
    { echo "install-deps: could not get the Go toolchain $oldest from the Go module proxy" >&2; exit 1; }
