# Where a step's time goes, one stacked bar per policy: compute (attention
# and experts), all-to-all (dispatch and combine), idle at MoE barriers
# (waiting for the slowest device) and other (gradient sync, dense-layer
# collectives), each the mean over steps and finished seeds of its share of
# the critical path; the four add up to the mean step time.
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, one row per policy: position (0-based), then
#             compute, all-to-all, idle and other in ms
#   plotsdir  this folder (for style.gp)
#   n         policies; policy1 .. policyN their names
#   ymax      the tallest bar in ms
#   nodata    1 when there is nothing to draw
set terminal svg size 900,380 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set ylabel 'mean time per step (ms)'
set key outside right top vertical reverse Left
if (nodata) {
    set label 1 'no step was recorded' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set xrange [-0.6:n - 0.4]
    set yrange [0:(ymax > 0 ? ymax * 1.08 : 1)]
    set xtics () scale 0
    do for [i=1:n] {
        set xtics add (value(sprintf('policy%d', i)) i - 1)
    }
    set boxwidth 0.55
    set style fill solid 1.0 border rgb 'white'
    # Stacked by drawing the cumulative sums, tallest first: each box is
    # drawn over the one before, whose top part stays visible.
    plot datafile using 1:($2 + $3 + $4 + $5) with boxes lc rgb '#bbbbbb' \
             title 'other', \
         '' using 1:($2 + $3 + $4) with boxes lc rgb '#d55e00' \
             title 'idle at MoE barriers', \
         '' using 1:($2 + $3) with boxes lc rgb '#e69f00' title 'all-to-all', \
         '' using 1:2 with boxes lc rgb '#0072b2' title 'compute'
}
