/*
 * gnuplot: runs one of the gnuplot scripts of plots/ and returns its SVG,
 * ready to inline in an HTML page (prefix gnuplot_). Used by plots/report.
 *
 * A gnuplot_t owns a private folder (mkdtemp under $TMPDIR, else /tmp;
 * mode 0700) for the plots' data files, which the caller writes there,
 * and for gnuplot's SVG and stderr; gnuplot_close removes the folder and
 * everything in it.
 *
 * gnuplot_draw runs
 *     PROGRAM -d -e "plotsdir='SCRIPTS'; VARS" SCRIPTS/NAME.gp
 * without a shell (posix_spawnp: each argument reaches gnuplot as is),
 * stdin from /dev/null, stdout into NAME.svg, stderr into NAME.err. -d
 * (--default-settings) skips ~/.gnuplot and the system init file, so a
 * user's settings cannot change the output: the same data and the same
 * gnuplot give the same bytes (the svg terminal writes no date).
 *
 * The SVG returned starts at <svg> (no XML prolog, which HTML does not
 * take), has every id and reference to one prefixed ("imbalance-gpPt0":
 * gnuplot names its point symbols gpPt0, ... in every file, and five
 * plots share one document), and has gnuplot's <title> elements removed
 * (a browser shows "Gnuplot" or "gnuplot_plot_1" as a tooltip).
 *
 * Errors: 0 or a negative ERR_* code with the message in the caller's
 * err_t. ERR_IO: the folder cannot be made, gnuplot cannot be run (the
 * message names the Debian package), exits non-zero (the message holds
 * its stderr) or writes no complete SVG.
 */
#ifndef MOESIM_PLOTS_GNUPLOT_H
#define MOESIM_PLOTS_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

typedef struct gnuplot gnuplot_t;

/* Makes the private folder. program: run as given, looked up on PATH
 * unless it holds a '/'; scripts_dir: the folder of the .gp files. Both
 * copied. On success *out is a new handle the caller owns
 * (gnuplot_close). ERR_INPUT for a path holding a control character
 * (it could not be passed to gnuplot -e). */
int gnuplot_open(gnuplot_t **out, const char *program,
                 const char *scripts_dir, err_t *e);

/* Removes the private folder with its files. NULL is a no-op. */
void gnuplot_close(gnuplot_t *g);

/* The path of file name in the private folder, into out (PATH_MAX bytes
 * are always enough). ERR_IO when it does not fit. */
int gnuplot_path(const gnuplot_t *g, const char *name, char *out, size_t n,
                 err_t *e);

/* Opens file name of the private folder for writing: *out is the caller's
 * to fclose. */
int gnuplot_data_open(gnuplot_t *g, const char *name, FILE **out, err_t *e);

/* Writes `name='value'; ` for gnuplot -e: in single quotes gnuplot
 * expands nothing but '' (one quote); control characters, which would end
 * the command, become spaces (for display text: titles, policy names). */
void gnuplot_string(FILE *f, const char *name, const char *value);

/* Writes x exactly (%.17g), NaN as gnuplot reads it: for -e and data. */
void gnuplot_number(FILE *f, double x);

/* Runs script (a name: SCRIPTS/script.gp) with vars (gnuplot commands,
 * e.g. "n=2; datafile='...'; ") and returns its SVG in *svg_out, which
 * the caller frees, ids prefixed with "id_prefix-". */
int gnuplot_draw(gnuplot_t *g, const char *script, const char *vars,
                 const char *id_prefix, char **svg_out, err_t *e);

#endif
