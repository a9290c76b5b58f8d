/*
 * report_html: the HTML page: text escaped for HTML, the style sheet, the
 * scenario summary, the comparison table, the plots' sections, the
 * findings list, and the page written beside its path and renamed into
 * place.
 */
#include "plots/report_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "results/compare.h"

/* The comparison table's rows: label with the unit shown, and the factor
 * from the stored SI unit. */
static const struct {
    const char *label;
    double scale;
} metric_row[COMPARE_METRIC_COUNT] = {
    {"step time (ms)", 1e3},
    {"tokens/s per device", 1.0},
    {"time per output token (ms)", 1e3},
    {"time to first token (ms)", 1e3},
    {"Imbalance Score", 1.0},
    {"device load max/mean", 1.0},
    {"all-to-all share of step (%)", 100.0},
    {"idle at MoE barriers, share of step (%)", 100.0},
    {"inter-node traffic per step (MB)", 1e-6},
};

/* Settings of the [scenario] section shown in the summary, as named in
 * the scenario file (scenarios/scen.c reads them). */
static const char *const scenario_keys[] = {
    "model", "node", "nodes", "phase", "sequences_per_device", "seq_len",
    "context_len", "steps", "seeds", "ep_size", "attn_dp_size", "network",
    "dispatch", "micro_batches", "grad_sync"};
#define N_SCENARIO_KEYS (sizeof scenario_keys / sizeof *scenario_keys)

/* ---- HTML ---------------------------------------------------------- */

/* Text as HTML character data or attribute value. */
void report_html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* ---- the page ------------------------------------------------------- */

static const char css[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Helvetica Neue\",Arial,sans-serif;color:#222;background:#fff;"
    "max-width:980px;margin:2em auto;padding:0 1em;line-height:1.45}\n"
    "h1{font-size:1.6em;margin:0 0 .2em}\n"
    "h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;"
    "margin-top:2.2em}\n"
    "h3{font-size:1.05em;margin-top:1.4em}\n"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.9em}\n"
    "th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#f4f4f4;font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    ".ci{color:#666;font-size:.88em}\n"
    ".muted{color:#666}\n"
    ".finding{background:#f2f7fb;border-left:4px solid #0072b2;"
    "padding:.5em .8em;margin:.8em 0}\n"
    "figure{margin:1em 0}\n"
    "figure svg{display:block;max-width:100%;height:auto}\n"
    "figcaption{color:#555;font-size:.9em;margin-top:.4em}\n"
    "code,.hash{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"
    "monospace;font-size:.85em}\n"
    ".hash{word-break:break-all}\n"
    "pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}\n"
    "ul.findings li{margin:.3em 0}\n";

/* Marks the body once the page, every SVG included, has loaded: what the
 * headless-browser test looks for. */
static const char load_script[] =
    "<script>\n"
    "window.addEventListener(\"load\", function () {\n"
    "  document.body.dataset.plots = "
    "String(document.querySelectorAll(\"figure svg\").length);\n"
    "  document.body.dataset.loaded = \"yes\";\n"
    "});\n"
    "</script>\n";

void report_html_kv_row(FILE *f, const char *key, const char *value)
{
    fputs("<tr><th>", f);
    report_html_text(f, key);
    fputs("</th><td>", f);
    report_html_text(f, value);
    fputs("</td></tr>\n", f);
}

static int write_summary(rpt *r, FILE *f, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;
    const char *desc = report_scenario_value(r, "description");

    fputs("<section id=\"scenario\">\n<h2>1. Scenario and hardware</h2>\n"
          "<table class=\"kv\">\n",
          f);
    report_html_kv_row(f, "scenario", r->name);
    if (desc && *desc)
        report_html_kv_row(f, "description", desc);
    report_html_kv_row(f, "phase", r->phase);
    for (size_t k = 0; k < N_SCENARIO_KEYS; k++) {
        const char *v = report_scenario_value(r, scenario_keys[k]);
        if (v && strcmp(scenario_keys[k], "phase") != 0)
            report_html_kv_row(f, scenario_keys[k], v);
    }
    char devices[32];
    snprintf(devices, sizeof devices, "%d", r->devices);
    report_html_kv_row(f, "devices simulated", devices);
    report_html_kv_row(f, "moesim version", r->version);
    report_html_kv_row(f, "results created at", r->created_at);
    fputs("</table>\n", f);

    fputs("<h3>Policies</h3>\n<table>\n<tr><th>policy</th><th>router</th>"
          "<th>placement</th><th>finished seeds</th><th>runs not done "
          "(not counted)</th></tr>\n",
          f);
    rc = report_prep(r,
                     "SELECT router, placement FROM run WHERE policy = ?"
                     " ORDER BY status = 'done' DESC, seed LIMIT 1",
                     &st, e);
    if (rc != 0)
        return rc;
    for (int p = 0; p < compare_policies(r->cmp); p++) {
        const char *name = compare_policy_name(r->cmp, p);
        (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            (void)sqlite3_finalize(st);
            return report_db_fail(r, e, "reading the runs");
        }
        fputs("<tr><td>", f);
        report_html_text(f, name);
        fputs("</td><td>", f);
        report_html_text(f, step == SQLITE_ROW ? report_col_text(st, 0) : "-");
        fputs("</td><td>", f);
        report_html_text(f, step == SQLITE_ROW ? report_col_text(st, 1) : "-");
        fprintf(f, "</td><td class=\"num\">%d</td><td class=\"num\">%d</td>"
                   "</tr>\n",
                compare_runs_done(r->cmp, p), compare_runs_not_done(r->cmp, p));
        (void)sqlite3_reset(st);
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    fputs("</table>\n", f);

    fputs("<h3>Files</h3>\n<table>\n<tr><th>role</th><th>path</th>"
          "<th>SHA-256</th></tr>\n",
          f);
    rc = report_prep(
        r, "SELECT role, path, sha256 FROM scenario_file ORDER BY position",
        &st, e);
    if (rc != 0)
        return rc;
    int step, files = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fputs("<tr><td>", f);
        report_html_text(f, report_col_text(st, 0));
        fputs("</td><td><code>", f);
        report_html_text(f, report_col_text(st, 1));
        fputs("</code></td><td class=\"hash\">", f);
        report_html_text(f, report_col_text(st, 2));
        fputs("</td></tr>\n", f);
        files++;
    }
    (void)sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return report_db_fail(r, e, "reading the scenario files");
    if (files == 0)
        fputs("<tr><td colspan=\"3\" class=\"muted\">no file recorded"
              "</td></tr>\n",
              f);
    fputs("</table>\n<details><summary>The scenario file as run</summary>"
          "<pre>",
          f);
    report_html_text(f, r->text);
    fputs("</pre></details>\n</section>\n", f);
    return 0;
}

/* One cell "mean [lo, hi]": the half-width to two significant digits and
 * the mean and bounds rounded to the same place (as moesim compare); with
 * one seed the mean to four significant digits and no interval. */
static void mean_cell(FILE *f, const compare_stat *s, double scale)
{
    char a[NUM_MAX], b[NUM_MAX], c[NUM_MAX];
    double mean = s->mean * scale;
    if (isnan(s->ci_half)) {
        fprintf(f, "<td class=\"num\">%s <span class=\"ci\">(one seed)"
                   "</span></td>",
                report_fmt_sig(a, sizeof a, mean, 4));
        return;
    }
    double half = s->ci_half * scale;
    int d = compare_decimals(mean, half);
    fprintf(f, "<td class=\"num\">%s <span class=\"ci\">[%s, %s]</span></td>",
            report_fmt_round(a, sizeof a, mean, d),
            report_fmt_round(b, sizeof b, s->ci_lo * scale, d),
            report_fmt_round(c, sizeof c, s->ci_hi * scale, d));
}

static void write_comparison(const rpt *r, FILE *f)
{
    int n = compare_policies(r->cmp);
    int base = compare_baseline(r->cmp);
    fputs("<section id=\"comparison\">\n<h2>2. Comparison</h2>\n<p>Each "
          "figure is the mean over the policy's finished seeds with the 95% "
          "confidence interval of that mean in brackets (Student t; none "
          "with one seed), and the ratio of the mean to the baseline, ",
          f);
    report_html_text(f, compare_policy_name(r->cmp, base));
    fputs(". Shares are of the step time.</p>\n<table>\n<tr><th rowspan=\"2\">"
          "metric</th>",
          f);
    for (int p = 0; p < n; p++) {
        fputs("<th colspan=\"2\">", f);
        report_html_text(f, compare_policy_name(r->cmp, p));
        fputs(p == base ? " (baseline)</th>" : "</th>", f);
    }
    fputs("</tr>\n<tr>", f);
    for (int p = 0; p < n; p++)
        fputs("<th>mean [95% CI]</th><th>ratio</th>", f);
    fputs("</tr>\n<tr><td>finished seeds</td>", f);
    for (int p = 0; p < n; p++)
        fprintf(f, "<td class=\"num\" colspan=\"2\">%d</td>",
                compare_runs_done(r->cmp, p));
    fputs("</tr>\n", f);
    for (int m = 0; m < COMPARE_METRIC_COUNT; m++) {
        if (!compare_applies(r->cmp, (compare_metric)m))
            continue;
        fputs("<tr><td>", f);
        report_html_text(f, metric_row[m].label);
        fputs("</td>", f);
        for (int p = 0; p < n; p++) {
            const compare_stat *s = compare_get(r->cmp, p, (compare_metric)m);
            if (compare_runs_done(r->cmp, p) == 0) {
                fputs("<td colspan=\"2\" class=\"muted\">no finished runs</td>",
                      f);
                continue;
            }
            if (s->n == 0)
                fputs("<td class=\"num\">n/a</td>", f);
            else
                mean_cell(f, s, metric_row[m].scale);
            if (isnan(s->ratio))
                fputs("<td class=\"num\">n/a</td>", f);
            else
                fprintf(f, "<td class=\"num\">%.2f\xc3\x97</td>", s->ratio);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);
}

/* Plot p's finding and figure with its caption. */
void report_html_figure(const rpt *r, FILE *f, int p)
{
    fputs("<p class=\"finding\">", f);
    report_html_text(f, r->finding[p]);
    fputs("</p>\n<figure>\n", f);
    fputs(r->svg[p], f);
    fputs("\n<figcaption>", f);
    report_html_text(f, report_plot_info[p].intro);
    fputs("</figcaption>\n</figure>\n", f);
}

static void write_plot(const rpt *r, FILE *f, int p)
{
    fprintf(f, "<section id=\"%s\">\n<h2>%d. ", report_plot_info[p].name,
            p + 3);
    report_html_text(f, report_plot_info[p].heading);
    fputs("</h2>\n", f);
    report_html_figure(r, f, p);
    if (p == PLOT_LINKS && r->n_active > 0) {
        int ranks = 0;
        for (int a = 0; a < r->n_active; a++)
            ranks = r->n_links[a] > ranks ? r->n_links[a] : ranks;
        if (ranks > 0) {
            fputs("<details><summary>The links by rank</summary>\n<table>\n"
                  "<tr><th>rank</th>",
                  f);
            for (int a = 0; a < r->n_active; a++) {
                fputs("<th>", f);
                report_html_text(f, report_active_name(r, a));
                fputs("</th>", f);
            }
            fputs("</tr>\n", f);
            for (int k = 0; k < ranks; k++) {
                fprintf(f, "<tr><td class=\"num\">%d</td>", k + 1);
                for (int a = 0; a < r->n_active; a++) {
                    fputs("<td>", f);
                    if (k < r->n_links[a]) {
                        char u[NUM_MAX];
                        report_html_text(f, r->links[a][k].name);
                        fprintf(f, " <span class=\"ci\">%s%%</span>",
                                report_fmt_sig(
                                    u, sizeof u,
                                    r->links[a][k].utilization * 100, 3));
                    }
                    fputs("</td>", f);
                }
                fputs("</tr>\n", f);
            }
            fputs("</table>\n</details>\n", f);
        }
    }
    fputs("</section>\n", f);
}

/* The findings list: each plot drawn, linked to it. */
static void write_findings(const rpt *r, FILE *f)
{
    fputs("<section id=\"findings\">\n<h2>Findings</h2>\n"
          "<ul class=\"findings\">\n",
          f);
    for (int p = 0; p < PLOT_ALL; p++) {
        if (!report_plot_shown(r, p))
            continue;
        fprintf(f, "<li><a href=\"#%s\">", report_plot_info[p].name);
        report_html_text(f, report_plot_info[p].heading);
        fputs("</a>: ", f);
        report_html_text(f, r->finding[p]);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</section>\n", f);
}

/* The page up to its heading: "<h1>heading name</h1>", the title
 * "moesim report: name". */
static void write_head(FILE *f, const char *heading, const char *name)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, "
          "initial-scale=1\">\n<title>moesim report: ",
          f);
    report_html_text(f, name);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>%s",
            css, heading);
    report_html_text(f, name);
    fputs("</h1>\n", f);
}

/* A page of the plan alone (no results database). */
static void write_plan_page(const rpt *r, FILE *f)
{
    write_head(f, "Capacity plan: ", r->plan.name);
    write_findings(r, f);
    report_plan_write(r, f, 1);
    fputs(load_script, f);
    fputs("</body>\n</html>\n", f);
}

static int write_page(rpt *r, FILE *f, err_t *e)
{
    if (!r->db_path) {
        write_plan_page(r, f);
        return 0;
    }
    write_head(f, "MoE routing report: ", r->name);
    const char *desc = report_scenario_value(r, "description");
    if (desc && *desc) {
        fputs("<p>", f);
        report_html_text(f, desc);
        fputs("</p>\n", f);
    }
    fputs("<p class=\"muted\">", f);
    report_html_text(f, r->phase);
    fprintf(f, " \xc2\xb7 %d of %d policies with finished runs \xc2\xb7 "
               "results written by moesim ",
            r->n_active, compare_policies(r->cmp));
    report_html_text(f, r->version);
    fputs(" at ", f);
    report_html_text(f, r->created_at);
    fputs("</p>\n", f);
    write_findings(r, f);
    int rc = write_summary(r, f, e);
    if (rc != 0)
        return rc;
    write_comparison(r, f);
    for (int p = 0; p < PLOT_COUNT; p++)
        write_plot(r, f, p);
    if (r->plan.path)
        report_plan_write(r, f, PLOT_COUNT + 3);
    fputs(load_script, f);
    fputs("</body>\n</html>\n", f);
    return 0;
}

/* Writes the page to a temporary file beside html_path and renames it
 * into place: readers see the old report or the whole new one. */
int report_html_write(rpt *r, const char *html_path, err_t *e)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int rc = 0;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", html_path);
    if (n < 0 || n >= (int)sizeof tmp)
        return err_set(e, ERR_INPUT, "%s: path too long", html_path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                       strerror(errno));
    /* mkstemp makes the file 0600; a report is meant to be shared. */
    (void)fchmod(fd, 0644);
    if (!(f = fdopen(fd, "w"))) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        close(fd);
        goto fail;
    }
    errno = 0;
    if ((rc = write_page(r, f, e)) != 0)
        goto fail;
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     errno ? strerror(errno) : "write error");
        goto fail;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        goto fail;
    }
    if (rename(tmp, html_path) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (f)
        fclose(f);
    (void)unlink(tmp);
    return rc;
}
