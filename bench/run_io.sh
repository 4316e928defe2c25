#!/bin/sh
# The I/O handle under bench_echo's load, against native inert + gen_tcp
# recv and gen_tcp {active, once} (bench/bench_io.erl). Expects
# `make build'; native inert is built as bench/run.sh builds it.
#   sh bench/run_io.sh [REPS [MS]]      (default 5 x 1500 ms)
set -eu
cd "$(dirname "$0")/.."
ebin=${INERT_EBIN:-erlang/inert/_build/default/lib/inert/ebin}
mkdir -p bench/out/ebin
erlc -Werror +warn_missing_spec -o bench/out/ebin bench/*.erl
native_src=${BENCH_NATIVE_SRC:-bench/native-src}
if [ -f "$native_src/build.sh" ] && sh "$native_src/build.sh" bench/out/native >bench/out/native-build.log 2>&1; then
    export BENCH_NATIVE_EBIN="$PWD/bench/out/native/ebin"
else
    export BENCH_NATIVE_WHY="baseline not built"
fi
erl -noshell -pa "$ebin" -pa bench/out/ebin -run bench_io main "${1:-5}" "${2:-1500}"
