# Capacity plan: tokens per second per device against the devices of one
# serving instance (train: of the cluster), one series of points per
# policy, every feasible candidate of the plan.
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, one row per feasible candidate: devices per
#             instance, tokens/s per device, series (1..n)
#   plotsdir  this folder (for style.gp)
#   n         policies drawn; policy1 .. policyN their names, in the
#             plan's order (colours as in the other plots: by position)
#   xmin, xmax  the fewest and most devices drawn
#   ymax      the largest tokens/s per device
#   logx      1: log2 device axis (the counts span a factor of 4 or more)
#   nodata    1 when no candidate is feasible
set terminal svg size 900,380 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set xlabel 'devices per instance'
set ylabel 'tokens/s per device'
set key outside right top vertical
if (nodata) {
    set label 1 'no feasible candidate' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set yrange [0:(ymax > 0 ? ymax * 1.12 : 1)]
    if (logx) {
        set logscale x 2
        set xrange [xmin / 1.5:xmax * 1.5]
    } else {
        set xrange [xmin - 1 - (xmax - xmin) * 0.08:xmax + 1 + (xmax - xmin) * 0.08]
        if (xmax - xmin <= 24) { set xtics 1 }
    }
    set format x '%g'
    plot for [i=1:n] datafile using 1:(int($3) == i ? $2 : NaN) \
         with points lt i ps 1.2 title value(sprintf('policy%d', i))
}
