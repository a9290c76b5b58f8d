# Device load per step: a heat map of devices (rows) by steps (columns),
# one panel per policy shown (the baseline and the policy with the most
# tokens/s per device), each from one seed (named in its title).
#
# A cell is the token-expert computations placed on the device in the step
# (summed over layers) over the mean of the step's devices: 1 (white) is
# an evenly loaded device, red a device the others wait for, blue one that
# waits. Both panels share one colour scale, centred on 1.
#
# Variables (gnuplot -e, set by plots/report.c):
#   datafile  tab-separated: step, device, load / mean; one block per panel,
#             blocks separated by two blank lines (index 0, 1)
#   plotsdir  this folder (for style.gp)
#   n         panels (1 or 2); title1, title2 their titles
#   steps, devices   the extent of the axes
#   cbmin, cbmax     the colour scale, symmetric about 1
#   nodata    1 when there is nothing to draw
set terminal svg size 900,400 fixed noenhanced font 'sans-serif,12' \
    background rgb 'white'
load plotsdir.'/style.gp'
set border 15
set xtics mirror
set ytics mirror
unset grid
if (nodata) {
    set label 1 'no per-device rows were recorded' at graph 0.5, 0.5 center
    set xrange [0:1]
    set yrange [0:1]
    plot NaN notitle
} else {
    set palette defined (0 '#2166ac', 0.5 '#f7f7f7', 1 '#b2182b')
    set cbrange [cbmin:cbmax]
    set cblabel 'device load / mean device load'
    set xlabel 'step'
    set ylabel 'device'
    set xrange [-0.5:steps - 0.5]
    set yrange [-0.5:devices - 0.5]
    if (steps <= 20) { set xtics 1 }
    if (devices <= 16) { set ytics 1 }
    # Panels of equal width side by side, the shared colour box to the
    # right of the last (fixed margins: a layout would give the panel with
    # the colour box a narrower plot).
    gap = 0.08
    w = (0.86 - 0.08 - (n - 1) * gap) / n
    # one box per cell rather than `with image`, which needs a grid of at
    # least 2 x 2 (a one-step run has one column)
    set style fill solid 1.0 noborder
    set multiplot
    do for [i=1:n] {
        left = 0.08 + (i - 1) * (w + gap)
        set lmargin at screen left
        set rmargin at screen left + w
        if (i < n) { unset colorbox } else { set colorbox }
        set title value(sprintf('title%d', i))
        plot datafile index (i - 1) using 1:2:(0.5):(0.5):3 \
             with boxxyerror fc palette notitle
    }
    unset multiplot
}
