#!/bin/sh
# Packets/s through a TUN interface: an I/O handle (inert_io, datagram
# mode) against open_port({fd, FD, FD}) on the same fd (bench/bench_tun.erl),
# in a network namespace of its own (unshare -n, as root: skipped
# otherwise). Expects `make build'.
#   sh bench/run_tun.sh [REPS [MS [COUNT]]]     (default 5 x 1000 ms, 100000 packets)
set -eu
cd "$(dirname "$0")/.."
ebin=${INERT_EBIN:-erlang/inert/_build/default/lib/inert/ebin}
if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
    echo "skipped: needs root and unshare -n (a network namespace and CAP_NET_ADMIN for a TUN)"
    exit 0
fi
if [ ! -c /dev/net/tun ] || ! command -v perl >/dev/null; then
    echo "skipped: needs /dev/net/tun and perl(1) (the packet generator)"
    exit 0
fi
mkdir -p bench/out/ebin
erlc -Werror +warn_missing_spec -o bench/out/ebin bench/*.erl
exec unshare -n erl -noshell -pa "$ebin" -pa bench/out/ebin -run bench_tun main "${1:-5}" "${2:-1000}" "${3:-100000}"
