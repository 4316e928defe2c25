#!/bin/sh
# Runs the benchmarks in one VM (and the original driver, native inert, in
# a second one) and writes the report.
#   bench/run.sh full    what `make bench` runs (a few minutes): writes
#                        bench/out/results.json, bench/out/table.md, the
#                        raw wake-latency samples bench/out/wake_*.dat,
#                        the plot bench/wake-latency.png, and the table
#                        into BENCHMARKS.md
#   bench/run.sh smoke   what `make bench-smoke` runs (well under 60 s):
#                        the same harness with tiny counts, into
#                        bench/out/smoke/; checks it runs, not how fast
#   bench/run.sh phases REPS PHASE...  some phases alone against native
#                        inert, alternating (bench/bench_phases.erl): one
#                        line per phase on stdout, nothing written
#   bench/run.sh proto [REPS]  prototypes against native inert
#                        (bench/bench_proto.erl, ~10 s a round, default 5
#                        rounds): a table on stdout, nothing written
# Expects `make build` to have run (the inert application and priv/inertd).
# INERT_EBIN=<dir> benchmarks another build of the application (its
# inertd is the one in that build's priv/), e.g. to measure a change
# before and after; INERTD=<path> overrides the daemon alone.
# The original driver (msantos/inert 1.0.5) is built from the unmodified
# sources in BENCH_NATIVE_SRC (default bench/native-src: a directory, or a
# link to one, holding those sources and a build.sh OUTDIR that builds
# them; git ignores it) into bench/out/native, which is not part of the
# repository either; without them the native figures are n/a.
set -eu
mode=${1:-full}
cd "$(dirname "$0")/.."
case "$mode" in
    full)  out=bench/out;       png=bench/wake-latency.png; md=BENCHMARKS.md ;;
    smoke) out=bench/out/smoke; png=bench/out/smoke/wake-latency.png; md="" ;;
    proto|phases) out=bench/out; png=""; md="" ;;
    *) echo "usage: $0 full|smoke|proto [REPS]|phases REPS PHASE..." >&2; exit 2 ;;
esac
ebin=${INERT_EBIN:-erlang/inert/_build/default/lib/inert/ebin}
[ -f "$ebin/inert.beam" ] || { echo "bench: no inert.beam in $ebin: run 'make build' first" >&2; exit 1; }

# As many fds as the hard limit allows (20,000 here): the VM holds the
# sockets, inertd (which inherits the limit) its duplicates.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The figures are ratios measured in one run, but a machine busy with
# other work still blurs them: a full run first waits (at most
# BENCH_QUIET_WAIT seconds, default 120) until other processes use less
# than a quarter of the CPUs. The report states how busy it was.
busy_pct() {
    set -- $(head -n 1 /proc/stat); t0=$(( $2+$3+$4+$5+$6+$7+$8+$9 )); i0=$(( $5+$6 ))
    sleep 1
    set -- $(head -n 1 /proc/stat); t1=$(( $2+$3+$4+$5+$6+$7+$8+$9 )); i1=$(( $5+$6 ))
    echo $(( 100 - 100 * (i1 - i0) / (t1 - t0 + 1) ))
}
if [ "$mode" != smoke ]; then
    waited=0
    while b=$(busy_pct); [ "$b" -ge 25 ] && [ "$waited" -lt "${BENCH_QUIET_WAIT:-120}" ]; do
        [ "$waited" -eq 0 ] && echo "bench: other processes keep ${b}% of the CPUs busy; waiting for quiet"
        waited=$((waited + 1))
    done
    [ "$b" -ge 25 ] && echo "bench: still ${b}% busy; running anyway (see the report's CPU line)"
fi

# Which inert is measured: the commit, "+changes" when the core differs
# from it (read-only git queries; BENCH_INERT_REV overrides).
if [ -z "${BENCH_INERT_REV:-}" ] && [ -z "${INERT_EBIN:-}" ]; then
    BENCH_INERT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff-index --quiet HEAD -- cmd driver pollset protocol erlang/inert/src 2>/dev/null ||
        BENCH_INERT_REV="$BENCH_INERT_REV+changes"
fi
export BENCH_INERT_REV="${BENCH_INERT_REV:-$ebin}"

mkdir -p bench/out/ebin "$out"
rm -f "$out"/wake_*.dat
erlc -Werror +warn_missing_spec -o bench/out/ebin bench/*.erl

# The original driver, as the `native' contender (bench/bench_native.erl).
native_src=${BENCH_NATIVE_SRC:-bench/native-src}
unset BENCH_NATIVE_EBIN BENCH_NATIVE_REV
if [ ! -f "$native_src/build.sh" ]; then
    export BENCH_NATIVE_WHY="baseline not built: no $native_src"
elif sh "$native_src/build.sh" bench/out/native >bench/out/native-build.log 2>&1; then
    export BENCH_NATIVE_EBIN="$PWD/bench/out/native/ebin"
    BENCH_NATIVE_REV=$(cat "$native_src/UPSTREAM_COMMIT" 2>/dev/null || true)
    export BENCH_NATIVE_REV
else
    export BENCH_NATIVE_WHY="baseline not built: build.sh failed, see bench/out/native-build.log"
    echo "bench: $BENCH_NATIVE_WHY" >&2
fi

if [ "$mode" = phases ]; then
    shift
    exec erl -noshell -pa "$ebin" -pa bench/out/ebin -run bench_phases main "$@"
fi
if [ "$mode" = proto ]; then
    exec erl -noshell -pa "$ebin" -pa bench/out/ebin -run bench_proto main "${2:-5}"
fi
erl -noshell -pa "$ebin" -pa bench/out/ebin -run bench_main main "$mode" "$out" $md
native=0; [ -f "$out/wake_native.dat" ] && native=1
gnuplot -e "outdir='$out'; png='$png'; native=$native" bench/wake-latency.gp
echo "bench: plot $png"
