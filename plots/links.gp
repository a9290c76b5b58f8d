# The ten busiest links of each policy: utilization (busy time over the
# run's all-to-all time, mean over finished seeds) of its busiest link, its
# second busiest, and so on; one bar per policy at each rank. Which link
# holds a rank differs between policies (the report lists the names).
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, one row per rank (1 = busiest): the rank, then
#             one column per policy, utilization in % (NaN: fewer links)
#   plotsdir  this folder (for style.gp)
#   n         policies; policy1 .. policyN their names
#   ranks     rows in datafile
#   ymax      the largest utilization in %
#   nodata    1 when there is nothing to draw
set terminal svg size 900,360 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set xlabel 'link rank (1 = busiest link of the policy)'
set ylabel 'utilization (% of all-to-all time)'
set key outside right top vertical
if (nodata) {
    set label 1 'no link traffic was recorded' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    w = 0.8 / n
    set boxwidth w
    set xrange [0.5:ranks + 0.5]
    set yrange [0:(ymax > 0 ? (ymax * 1.1 < 100 ? ymax * 1.1 : 100) : 1)]
    set xtics 1 scale 0
    set style fill solid 0.85 noborder
    plot for [i=1:n] datafile using ($1 - 0.4 + (i - 0.5) * w):(column(i + 1)) \
         with boxes lt i title value(sprintf('policy%d', i))
}
