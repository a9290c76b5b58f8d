# Tokens per second per device, one bar per policy: the mean over finished
# seeds, with its 95% confidence interval as a whisker (none with one seed).
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, one row per policy: position (0-based), mean,
#             interval low, interval high (NaN when unavailable)
#   plotsdir  this folder (for style.gp)
#   n         policies; policy1 .. policyN their names
#   ymax      the top of the highest bar or whisker
#   nodata    1 when there is nothing to draw
set terminal svg size 900,360 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set ylabel 'tokens/s per device'
if (nodata) {
    set label 1 'no finished run' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set xrange [-0.6:n - 0.4]
    set yrange [0:(ymax > 0 ? ymax * 1.12 : 1)]
    set xtics () scale 0
    do for [i=1:n] {
        set xtics add (value(sprintf('policy%d', i)) i - 1)
    }
    set style fill solid 0.85 noborder
    # Whiskers as plain lines (style 100): gnuplot's errorbar styles draw
    # a point with a white halo at the mean, on top of the bar. Rows
    # without an interval (NaN) draw no whisker.
    set style line 100 lc rgb '#222222' lw 1.5
    plot datafile using 1:2:(0.55):(int($1) + 1) \
             with boxes lc variable notitle, \
         '' using 1:3:(0):($4 - $3) with vectors nohead ls 100 notitle, \
         '' using ($1 - 0.08):3:(0.16):(0) with vectors nohead ls 100 notitle, \
         '' using ($1 - 0.08):4:(0.16):(0) with vectors nohead ls 100 notitle, \
         '' using 1:(valid(4) ? $4 : $2):(sprintf('%.4g', $2)) \
             with labels nopoint offset 0, 0.8 notitle
}
