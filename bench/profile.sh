#!/bin/sh
# Where the time goes on the inert path, under one load at a time
# (bench/bench_profile.erl):
#   bench/profile.sh [wake|fanin|fdset|pipeline|echo|rearm ...] [-s seconds]
# For each scenario, three runs of `seconds' (default 5), into
# bench/out/profile/:
#   SCENARIO.log          what the load did (rounds, inertd counters)
#   perf-stat-SCENARIO.txt   `perf stat' of inertd and of the VM (task-clock,
#                         context switches, migrations, page faults)
#   perf-SCENARIO.txt     `perf report' of inertd (cpu-clock samples with
#                         call graphs; perf.data kept next to it)
#   strace-SCENARIO.txt   inertd's syscalls by count (`strace -c -f'; its
#                         own run, strace slows the daemon down)
#   eprof-SCENARIO.txt    the VM side (callers, inert_srv): time by function
# perf and strace are used when installed. Not part of `make bench`.
# INERT_EBIN as for bench/run.sh. Expects `make build` to have run.
set -eu
cd "$(dirname "$0")/.."
secs=5
scenarios=""
while [ $# -gt 0 ]; do
    case "$1" in
        -s) secs=$2; shift 2 ;;
        wake|fanin|fdset|pipeline|echo|rearm) scenarios="$scenarios $1"; shift ;;
        *) echo "usage: $0 [wake|fanin|fdset|pipeline|echo|rearm ...] [-s seconds]" >&2; exit 2 ;;
    esac
done
[ -n "$scenarios" ] || scenarios="wake fanin fdset echo"
ebin=${INERT_EBIN:-erlang/inert/_build/default/lib/inert/ebin}
out=bench/out/profile
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p bench/out/ebin "$out"
erlc -Werror +warn_missing_spec -o bench/out/ebin bench/*.erl

# start_load SCENARIO [eprof]: the VM in the background; waits for the pid files.
start_load() {
    rm -f "$out/inertd.pid" "$out/beam.pid"
    erl -noshell -pa "$ebin" -pa bench/out/ebin \
        -run bench_profile main "$1" "$secs" "$out" ${2:-} >>"$out/$1.log" 2>&1 &
    load=$!
    while [ ! -s "$out/beam.pid" ]; do sleep 0.1; done
    inertd=$(cat "$out/inertd.pid"); beam=$(cat "$out/beam.pid")
}

for s in $scenarios; do
    echo "profile: $s (${secs} s per run)"
    : >"$out/$s.log"
    window=$((secs - 1))
    if command -v perf >/dev/null 2>&1; then
        start_load "$s"
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
            -p "$inertd" -o "$out/perf-stat-$s.txt" -- sleep "$window" &
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
            -p "$beam" -o "$out/perf-stat-$s.vm.txt" -- sleep "$window" &
        perf record -q -F 4999 -g -p "$inertd" -o "$out/perf-$s.data" -- sleep "$window" \
            >/dev/null 2>&1
        wait
        cat "$out/perf-stat-$s.vm.txt" >>"$out/perf-stat-$s.txt"; rm -f "$out/perf-stat-$s.vm.txt"
        perf report -i "$out/perf-$s.data" --stdio --children --sort sym -g caller,0.5,callee \
            >"$out/perf-$s.txt" 2>/dev/null || true
    fi
    if command -v strace >/dev/null 2>&1; then
        start_load "$s"
        timeout "$window" strace -c -f -p "$inertd" -o "$out/strace-$s.txt" || true
        wait "$load"
    fi
    start_load "$s" eprof
    wait "$load"
    grep "^$s:" "$out/$s.log" | cut -d";" -f1 | tail -n 1
done
echo "profile: results in $out"
