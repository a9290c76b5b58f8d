# Shared look of every moesim report plot, loaded by each plots/*.gp after
# its `set terminal` line. One colour per policy position (Okabe-Ito, which
# colour-blind readers can tell apart), so a policy keeps its colour from
# plot to plot; the HTML legend does not need to repeat it.
set linetype 1 lc rgb '#0072b2' lw 2 pt 7 ps 0.6
set linetype 2 lc rgb '#d55e00' lw 2 pt 5 ps 0.6
set linetype 3 lc rgb '#009e73' lw 2 pt 9 ps 0.7
set linetype 4 lc rgb '#cc79a7' lw 2 pt 11 ps 0.7
set linetype 5 lc rgb '#e69f00' lw 2 pt 13 ps 0.7
set linetype 6 lc rgb '#56b4e9' lw 2 pt 7 ps 0.6
set linetype 7 lc rgb '#000000' lw 2 pt 5 ps 0.6
set linetype 8 lc rgb '#999999' lw 2 pt 9 ps 0.7
set linetype cycle 8
set datafile separator "\t"
set border 3 lw 1 lc rgb '#444444'
set tics nomirror out scale 0.6
set grid ytics lw 1 lc rgb '#e0e0e0'
set key noautotitle
