# Imbalance Score per MoE layer, one line per policy.
#
# IS = (max_i T_i - min_i T_i) / |X| (Pangu Pro MoE, Eq. 3): the spread of
# token-expert computations over devices in one layer's step, per token of
# the batch; 0 is perfectly balanced.
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated, one row per MoE layer: the layer (0-based over
#             all layers), then one column per policy, its IS averaged over
#             steps and finished seeds (NaN: no value)
#   plotsdir  this folder (for style.gp)
#   n         policies; policy1 .. policyN their names, in scenario order
#   xmin, xmax  the first and last MoE layer
#   ymax      the largest value, for the y range
#   nodata    1 when there is nothing to draw
set terminal svg size 900,380 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set xlabel 'MoE layer (0-based over all layers)'
set ylabel 'Imbalance Score (mean over steps, seeds)'
set key outside right top vertical
if (nodata) {
    set label 1 'no MoE layer was recorded' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set yrange [0:(ymax > 0 ? ymax * 1.1 : 1)]
    set xrange [xmin - 0.5:xmax + 0.5]
    if (xmax - xmin <= 24) { set xtics 1 }
    plot for [i=1:n] datafile using 1:(column(i + 1)) with linespoints lt i \
         title value(sprintf('policy%d', i))
}
