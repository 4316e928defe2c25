# Wake-latency distributions (CDF, log x) of inert, the original driver
# (native, when it was measured: native=1) and the OTP baselines, from the
# raw samples of a run: solid lines with an idle gap before each send,
# dashed lines back to back. Called by bench/run.sh:
#   gnuplot -e "outdir='bench/out'; png='bench/wake-latency.png'; native=1" bench/wake-latency.gp
if (!exists("outdir")) outdir = 'bench/out'
if (!exists("png")) png = 'bench/wake-latency.png'
if (!exists("native")) native = 0
set terminal pngcairo size 1000,640 noenhanced font ",11"
set output png
set title "Wake latency: armed UDP fd made readable -> message received (CDF of every round)"
set xlabel "latency (µs, log scale)"
set ylabel "fraction of rounds"
set logscale x
set grid xtics mxtics ytics
set key right bottom
set yrange [0:1]
set ytics 0.1
set style line 1 lc rgb '#d62728' lw 2
set style line 2 lc rgb '#1f77b4' lw 2
set style line 3 lc rgb '#2ca02c' lw 2
set style line 4 lc rgb '#d62728' lw 2 dt 2
set style line 5 lc rgb '#1f77b4' lw 2 dt 2
set style line 6 lc rgb '#2ca02c' lw 2 dt 2
set style line 7 lc rgb '#9467bd' lw 2
set style line 8 lc rgb '#9467bd' lw 2 dt 2
if (native) {
plot outdir.'/wake_idle_inert.dat'  using 1:2 with lines ls 1 title 'inert: fdset, idle, send -> {inert_read, ...}', \
     outdir.'/wake_idle_native.dat' using 1:2 with lines ls 7 title 'native inert (C driver): the same', \
     outdir.'/wake_idle_socket.dat' using 1:2 with lines ls 2 title 'OTP socket: recv nowait, idle, send -> select msg', \
     outdir.'/wake_idle_gen.dat'    using 1:2 with lines ls 3 title 'gen_udp: {active, once}, idle, send -> {udp, ...}', \
     outdir.'/wake_inert.dat'  using 1:2 with lines ls 4 title 'inert, back to back', \
     outdir.'/wake_native.dat' using 1:2 with lines ls 8 title 'native inert, back to back', \
     outdir.'/wake_socket.dat' using 1:2 with lines ls 5 title 'OTP socket, back to back', \
     outdir.'/wake_gen.dat'    using 1:2 with lines ls 6 title 'gen_udp, back to back'
} else {
plot outdir.'/wake_idle_inert.dat'  using 1:2 with lines ls 1 title 'inert: fdset, idle, send -> {inert_read, ...}', \
     outdir.'/wake_idle_socket.dat' using 1:2 with lines ls 2 title 'OTP socket: recv nowait, idle, send -> select msg', \
     outdir.'/wake_idle_gen.dat'    using 1:2 with lines ls 3 title 'gen_udp: {active, once}, idle, send -> {udp, ...}', \
     outdir.'/wake_inert.dat'  using 1:2 with lines ls 4 title 'inert, back to back', \
     outdir.'/wake_socket.dat' using 1:2 with lines ls 5 title 'OTP socket, back to back', \
     outdir.'/wake_gen.dat'    using 1:2 with lines ls 6 title 'gen_udp, back to back'
}
