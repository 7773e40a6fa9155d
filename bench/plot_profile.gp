# plot_profile.gp — a `streamfit … --profile FILE.csv` profile as a PNG with two
# panels over time: throughput (rows/s) and memory (RSS, MiB, with CPU% on the
# right axis), the end of every pass marked by a dashed line with its label.
#
# usage (Debian: apt-get install gnuplot-nox):
#   streamfit fit clf.csv --pipeline "scaler | sgd_classifier" --target y \
#       --model clf.h5 --profile fit.csv
#   gnuplot -e "in='fit.csv'; out='fit.png'" bench/plot_profile.gp
# out defaults to in with .png appended.
#
# rows/s is derived from the cumulative rows column: (rows - rows') / (t - t')
# between a row and the last one at least 0.2 s before it (pass-end rows fall
# between samples; a shorter gap would make a spike, so it repeats the last
# rate). Rows left empty by the profile (not yet known: predict and score count
# at the end of their pass) are skipped. A profile of fewer than two rows (gen,
# export) is not plotted.

if (!exists("in")) { print "usage: gnuplot -e \"in='profile.csv'; out='profile.png'\" plot_profile.gp"; exit }
if (!exists("out")) out = in . ".png"

set datafile separator ","

# rows/s since the anchor (t0, r0) when it is 0.2 s back, else the last rate again
t0 = 0; r0 = 0; v = 0
rate(t, r) = (t - t0 >= 0.2) ? (v = (r - r0) / (t - t0) / 1000, t0 = t, r0 = r, v) : v
is_end(c) = strcol(c) eq "pass_end"

# the tops of the panels, so the pass lines and labels can reach them
stats in using 8 every ::1 nooutput name "RSS"
if (RSS_records < 2) { print in . ": fewer than two rows, nothing to plot"; exit }
t0 = 0; r0 = 0; v = 0
stats in using (valid(5) ? rate($1, $5) : NaN) every ::1 nooutput name "RATE"
rate_top = exists("RATE_max") && RATE_max > 0 ? 1.15 * RATE_max : 1  # none: rows never known
rss_top = 1.15 * RSS_max

set terminal pngcairo size 1000,700 font ",10"
set output out
set multiplot layout 2, 1 title "streamfit profile: " . in
set lmargin 10
set rmargin 10
set key outside top center horizontal
set grid
set xlabel "time (s)"
set xrange [0:*]

set ylabel "thousand rows/s"
set yrange [0:rate_top]
t0 = 0; r0 = 0; v = 0
plot in using 1:(valid(5) ? rate($1, $5) : NaN) every ::1 with fsteps lw 2 lc rgb "#1f77b4" title "rows/s (thousands)", \
     in using 1:(is_end(4) ? rate_top : NaN) every ::1 with impulses dt 2 lc rgb "gray40" title "pass end", \
     in using 1:(is_end(4) ? rate_top : NaN):3 every ::1 with labels rotate by 90 right offset -1, -0.5 \
        font ",8" tc rgb "gray30" notitle

set ylabel "RSS (MiB)"
set y2label "CPU %"
set y2tics
set ytics nomirror
set yrange [0:rss_top]
set y2range [0:*]
plot in using 1:8 every ::1 with lines lw 2 lc rgb "#d62728" title "RSS (MiB)", \
     in using 1:7 every ::1 axes x1y2 with lines lc rgb "#7f7f7f" title "CPU % (right)", \
     in using 1:(is_end(4) ? rss_top : NaN) every ::1 with impulses dt 2 lc rgb "gray40" notitle
unset multiplot
