# compare.gp — bench/compare.sh's chart: per workload the ratio peer time / streamfit
# time (bars from 1x on a log scale: up when streamfit is faster) with the issue's
# target ratio marked (a red bar-wide line); green bars met their target (and
# streamfit's peak RSS < 64 MiB), red ones did not.
#
# usage (Debian: apt-get install gnuplot-nox):
#   gnuplot -e "in='chart.dat'; out='compare.png'; title='...'" bench/compare.gp
# in: one line per workload, tab-separated: short label, ratio, target ratio, 1 if met.

if (!exists("in")) { print "usage: gnuplot -e \"in='chart.dat'; out='compare.png'\" compare.gp"; exit }
if (!exists("out")) out = in . ".png"
if (!exists("title")) title = "streamfit against its Python peers"

set datafile separator "\t"
stats in using 2 nooutput
n = STATS_records
set terminal pngcairo size (n < 10 ? 900 : 75 * n + 150), 680 font "DejaVu Sans,10"
set output out
set title title
set logscale y 10
set yrange [0.1:100]
set ytics ("0.1x" 0.1, "0.2x" 0.2, "0.5x" 0.5, "1x" 1, "2x" 2, "5x" 5, "10x" 10, "20x" 20, "50x" 50, "100x" 100)
set grid ytics lc rgb "#dddddd"
set ylabel "peer time / streamfit time (higher: streamfit faster)"
set xrange [-0.6:n - 0.4]
set xtics rotate by 35 right nomirror
set style fill solid 0.75 border lc rgb "#333333"
set key top right
set bmargin 9
clamp(r) = r < 0.1 ? 0.1 : (r > 100 ? 100 : r)
# bars grow from 1x: up when streamfit is faster, down when it is slower
plot in using 0:(1):($0 - 0.35):($0 + 0.35):(1):(clamp($2)):($4 > 0.5 ? 0x2e8b57 : 0xcd5c5c):xtic(1) \
         with boxxyerror lc rgb variable notitle, \
     "" using ($0 - 0.42):3:(0.84):(0) with vectors nohead lw 3 lc rgb "#b22222" title "the issue's target", \
     "" using 0:(clamp($2) * ($2 >= 1 ? 1.25 : 0.8)):(sprintf("%.1fx", $2)) with labels notitle, \
     NaN with boxes lc rgb "#2e8b57" title "target met", \
     NaN with boxes lc rgb "#cd5c5c" title "missed (ratio, or RSS >= 64 MiB)"
