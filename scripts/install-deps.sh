#!/bin/sh
# Installs what `make test`, `make demo` and `make bench` need and a fresh
# Debian machine lacks: Erlang/OTP (erl, erlc, common_test, dialyzer),
# rebar3 and gnuplot (the benchmarks' plot) from Debian's packages, and the
# Go modules of go.mod. Idempotent.
set -eu

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
command -v go >/dev/null 2>&1 || { echo "install-deps: Go is required (it is on the machine image)" >&2; exit 1; }
go mod download
