# Capacity plan: cost against latency of every feasible candidate with a
# known cost, the Pareto front (no other candidate is at most as costly and
# at most as slow, and better on one) highlighted and joined by a step line.
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, two blocks (separated by two blank lines):
#             0: every candidate drawn: latency, cost;
#             1: the front, by latency then cost: latency, cost
#   plotsdir  this folder (for style.gp)
#   xlabel, ylabel  the axes' titles (latency and cost with their units)
#   limit     the latency limit, drawn as a dashed line (NaN: none)
#   xmax, ymax  the largest latency (or the limit) and cost drawn
#   nodata    1 when no feasible candidate has a known cost
set terminal svg size 900,380 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set xlabel xlabel
set ylabel ylabel
set key outside right top vertical
if (nodata) {
    set label 1 'no feasible candidate with a known cost' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set xrange [0:(xmax > 0 ? xmax * 1.08 : 1)]
    set yrange [0:(ymax > 0 ? ymax * 1.12 : 1)]
    if (limit == limit) {
        set arrow 1 from limit, graph 0 to limit, graph 1 nohead \
            dt 2 lw 1.5 lc rgb '#cc0000'
        set label 2 'limit' at limit, graph 1 right offset -0.5, -1 \
            tc rgb '#cc0000'
    }
    plot datafile index 0 using 1:2 with points lt 8 pt 6 ps 1.0 \
             title 'feasible', \
         '' index 1 using 1:2 with steps lt 2 lw 2 notitle, \
         '' index 1 using 1:2 with points lt 2 pt 7 ps 1.4 \
             title 'Pareto front'
}
