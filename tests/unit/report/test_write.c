/*
 * report_write on the hand-built database of report_test.h: every
 * section, five inline SVGs with ids of their own, the findings with the
 * figures derived by hand there, the comparison table, escaping, and the
 * same bytes from two renders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/report/report_test.h"

/* One database and one render shared by the tests that only read the
 * page (each render runs gnuplot five times). */
typedef struct fixture {
    rpt_paths paths;
    char *page;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    rpt_build(&fx->paths, 1);
    fx->page = rpt_render(&fx->paths);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    rpt_remove(&fx->paths);
    free(fx->page);
    free(fx);
    return 0;
}

static void test_write__every_section(void **state)
{
    const char *page = ((fixture *)*state)->page;
    assert_true(strncmp(page, "<!DOCTYPE html>\n", 16) == 0);
    static const char *const ids[] = {
        "<section id=\"findings\">",   "<section id=\"scenario\">",
        "<section id=\"comparison\">", "<section id=\"imbalance\">",
        "<section id=\"heatmap\">",    "<section id=\"time\">",
        "<section id=\"throughput\">", "<section id=\"links\">"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        rpt_assert_has(page, ids[i]);
    assert_non_null(strstr(page, "</body>\n</html>\n"));
}

/* The scenario row, the description parsed from its text, the file with
 * the SHA-256 of "abc" (FIPS 180-2), version and creation time. */
static void test_write__scenario_and_files(void **state)
{
    const fixture *fx = *state;
    const char *page = fx->page;
    rpt_assert_has(page, "<title>moesim report: rpt</title>");
    rpt_assert_has(page, "<tr><th>description</th><td>Two policies on two "
                         "devices, by hand</td></tr>");
    rpt_assert_has(page, "<tr><th>phase</th><td>decode</td></tr>");
    rpt_assert_has(page, "<tr><th>node</th><td>../hardware/n.ini</td></tr>");
    rpt_assert_has(page, "<tr><th>devices simulated</th><td>2</td></tr>");
    rpt_assert_has(page, "<tr><th>moesim version</th><td>0.1.0-test</td>"
                         "</tr>");
    rpt_assert_has(page, "<tr><th>results created at</th><td>"
                         "2025-01-02T03:04:05Z</td></tr>");
    char row[256];
    snprintf(row, sizeof row,
             "<tr><td>scenario</td><td><code>%s</code></td>"
             "<td class=\"hash\">" RPT_ABC_SHA256 "</td></tr>",
             fx->paths.input);
    rpt_assert_has(page, row);
    /* topk: 2 finished seeds, 1 interrupted run not counted */
    rpt_assert_has(page, "<tr><td>topk</td><td>topk</td><td>contiguous</td>"
                         "<td class=\"num\">2</td><td class=\"num\">1</td>"
                         "</tr>");
}

/* Five plots, each an inline <svg> (no XML prolog, no file or network
 * reference), their ids prefixed so they stay unique in one document. */
static void test_write__five_inline_svgs(void **state)
{
    const char *page = ((fixture *)*state)->page;
    assert_int_equal(rpt_count(page, "<svg"), 5);
    assert_int_equal(rpt_count(page, "</svg>"), 5);
    assert_int_equal(rpt_count(page, "<?xml"), 0);
    assert_int_equal(rpt_count(page, "id='gpPt0'"), 0);
    static const char *const plots[] = {"imbalance", "heatmap", "time",
                                        "throughput", "links"};
    for (size_t i = 0; i < sizeof plots / sizeof *plots; i++) {
        char id[64];
        snprintf(id, sizeof id, "id='%s-gpPt0'", plots[i]);
        assert_int_equal(rpt_count(page, id), 1);
    }
    /* self-contained: nothing to fetch */
    assert_int_equal(rpt_count(page, "src="), 0);
    assert_int_equal(rpt_count(page, "<link"), 0);
    assert_int_equal(rpt_count(page, "href=\"http"), 0);
    assert_int_equal(rpt_count(page, "href='http"), 0);
    assert_int_equal(rpt_count(page, "url(http"), 0);
}

/* The findings, with the figures derived by hand in report_test.h (the
 * page escapes '<', '>' of the policy name and of "->"). */
static void test_write__findings_from_the_data(void **state)
{
    const char *page = ((fixture *)*state)->page;
    rpt_assert_has(page,
                   "&lt;moge&gt; has the lowest mean Imbalance Score (0.000 "
                   "vs 0.675 for topk); the worst layer is 2 under topk at "
                   "0.850.");
    rpt_assert_has(page,
                   "Under topk (seed 1), device 0 carries the most load, "
                   "1.35x the mean device over the 2 steps, and the most "
                   "loaded cell is device 0 in step 0 at 1.50x; under "
                   "&lt;moge&gt; (seed 1), every device carries the mean "
                   "load in every step.");
    rpt_assert_has(page,
                   "topk spends 11.0% of each step idle at MoE barriers "
                   "(1.20 of 11.00 ms) and 22.5% in all-to-all; &lt;moge&gt; "
                   "spends 0% of each step idle at MoE barriers (0 of 10.00 "
                   "ms) and 25.0% in all-to-all.");
    rpt_assert_has(page,
                   "&lt;moge&gt; delivers 1.11x the tokens/s per device of "
                   "topk (5750 vs 5200); their 95% intervals overlap, so the "
                   "difference is within seed-to-seed noise.");
    rpt_assert_has(page,
                   "The busiest link under topk is hccs 0-&gt;1, busy 80.0% "
                   "of the all-to-all time; under &lt;moge&gt;, hccs 0-&gt;1 "
                   "at 60.0%.");
}

/* compare's figures in the table: means with their interval, ratios. */
static void test_write__comparison_table(void **state)
{
    const char *page = ((fixture *)*state)->page;
    rpt_assert_has(page, "<th colspan=\"2\">topk (baseline)</th>"
                         "<th colspan=\"2\">&lt;moge&gt;</th>");
    /* tokens/s/device: topk 5200 +- t(0.975,1) * 200 = 2541.2 (two
     * significant digits: 2500), so [2700, 7700] */
    rpt_assert_has(page, "<tr><td>tokens/s per device</td>"
                         "<td class=\"num\">5200 <span class=\"ci\">"
                         "[2700, 7700]</span></td>"
                         "<td class=\"num\">1.00\xc3\x97</td>");
    rpt_assert_has(page, "<td class=\"num\">1.11\xc3\x97</td></tr>");
    /* decode: time per output token, not time to first token */
    rpt_assert_has(page, "<tr><td>time per output token (ms)</td>");
    assert_null(strstr(page, "time to first token"));
}

static void test_write__escapes_policy_names(void **state)
{
    const char *page = ((fixture *)*state)->page;
    assert_null(strstr(page, "<moge"));
    assert_null(strstr(page, "<policy"));
    rpt_assert_has(page, "[policy &lt;moge&gt;]");
    /* in the plots, gnuplot's SVG text escapes it too */
    assert_true(rpt_count(page, "&lt;moge") >= 10);
    /* the HTML text alone names it more than 10 times, so check each SVG:
     * every plot names both policies once (imbalance and links in the
     * key, time and throughput as x tics, the heat map in the title of
     * its second panel, the policy with the most tokens/s); gnuplot
     * escapes '<' only, which is all XML text needs */
    const char *s = page;
    for (int i = 0; i < 5; i++) {
        s = strstr(s, "<svg");
        assert_non_null(s);
        const char *end = strstr(s, "</svg>");
        assert_non_null(end);
        const char *name = strstr(s, "&lt;moge>");
        if (!name || name > end)
            fprintf(stderr, "SVG %d does not name &lt;moge>\n", i + 1);
        assert_true(name && name < end);
        s = end;
    }
}

/* Same database, same bytes: no clock, no temporary path in the page. */
static void test_write__same_bytes_twice(void **state)
{
    const fixture *fx = *state;
    char *again = rpt_render(&fx->paths);
    if (strcmp(again, fx->page) != 0) {
        size_t i = 0;
        while (again[i] && again[i] == fx->page[i])
            i++;
        fprintf(stderr, "renders differ at byte %zu: ...%.80s\n", i,
                again + (i > 40 ? i - 40 : 0));
    }
    assert_string_equal(again, fx->page);
    free(again);
}

/* An existing report is replaced; nothing is left beside it, and the
 * private temporary folder is gone. */
static void test_write__replaces_and_cleans_up(void **state)
{
    (void)state;
    rpt_paths p;
    rpt_build(&p, 1);
    char tmpdir[64];
    char *saved = rpt_tmpdir_set(tmpdir);

    rpt_write_old(p.html);
    char *page = rpt_render(&p);
    assert_non_null(strstr(page, "<!DOCTYPE html>"));
    struct stat sb;
    assert_int_equal(stat(p.html, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);

    /* the private folder was made in TMPDIR and removed */
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            fprintf(stderr, "left in TMPDIR: %s\n", de->d_name);
            entries++;
        }
    closedir(d);
    assert_int_equal(entries, 0);
    /* no temporary report beside the real one */
    d = opendir("build");
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strncmp(de->d_name, p.html + 6, strlen(p.html) - 6) == 0 &&
            strcmp(de->d_name, p.html + 6) != 0) {
            fprintf(stderr, "left beside the report: %s\n", de->d_name);
            entries++;
        }
    closedir(d);
    assert_int_equal(entries, 0);

    rpt_tmpdir_restore(saved);
    rmdir(tmpdir);
    free(page);
    rpt_remove(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write__every_section),
        cmocka_unit_test(test_write__scenario_and_files),
        cmocka_unit_test(test_write__five_inline_svgs),
        cmocka_unit_test(test_write__findings_from_the_data),
        cmocka_unit_test(test_write__comparison_table),
        cmocka_unit_test(test_write__escapes_policy_names),
        cmocka_unit_test(test_write__same_bytes_twice),
        cmocka_unit_test(test_write__replaces_and_cleans_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
