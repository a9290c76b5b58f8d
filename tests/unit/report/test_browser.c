/*
 * The report as a browser sees it: headless Chromium (Debian package
 * chromium) loads the page from a file:// URL with networking off and
 * dumps the DOM after the load event. The page's inline script must have
 * run (body data-loaded="yes", data-plots="5": five SVGs in figures), and
 * each of the five SVGs must have survived parsing with its data drawn
 * (a path or polygon after gnuplot's first plot group).
 *
 * Chromium missing is a failure naming the package, never a skip: CI
 * installs it (Makefile dependency list).
 */
/* nftw, to remove Chromium's profile folder */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/unit/report/report_test.h"

extern char **environ;

#define CHROMIUM "/usr/bin/chromium"
/* Chromium normally answers in 2-5 s; a hung browser fails the test
 * instead of hanging the suite. */
#define CHROMIUM_TIMEOUT_MS 60000

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs chromium --dump-dom on url into dom_path (stderr into log_path) in
 * its own process group, so a timeout can stop it with its helpers.
 * Returns its exit status, or -1 when it could not run or timed out. */
static int run_chromium(const char *url, const char *profile,
                        const char *dom_path, const char *log_path)
{
    char user_data[PATH_MAX + 32];
    snprintf(user_data, sizeof user_data, "--user-data-dir=%s", profile);
    char *argv[] = {(char *)CHROMIUM,
                    (char *)"--headless",
                    (char *)"--no-sandbox",
                    (char *)"--disable-gpu",
                    (char *)"--disable-quic",
                    (char *)"--no-first-run",
                    (char *)"--disable-background-networking",
                    (char *)"--disable-component-update",
                    (char *)"--disable-sync",
                    user_data,
                    (char *)"--dump-dom",
                    (char *)url,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, dom_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, log_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&pid, CHROMIUM, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        fprintf(stderr, "cannot run %s: %s\n", CHROMIUM, strerror(rc));
        return -1;
    }
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 50) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (waited_ms >= CHROMIUM_TIMEOUT_MS) {
            fprintf(stderr, "%s did not finish in %d ms; stopped\n",
                    CHROMIUM, CHROMIUM_TIMEOUT_MS);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_browser__loads_with_every_plot_drawn(void **st)
{
    (void)st;
    if (access(CHROMIUM, X_OK) != 0) {
        fprintf(stderr,
                "%s not found: this test needs headless Chromium; install "
                "the Debian package chromium (apt-get install chromium)\n",
                CHROMIUM);
        fail();
    }
    rpt_paths p;
    rpt_build(&p, 1);
    free(rpt_render(&p));

    char abs[PATH_MAX], url[PATH_MAX + 16], profile[64], dom_path[64],
        log_path[64];
    assert_non_null(realpath(p.html, abs));
    snprintf(url, sizeof url, "file://%s", abs);
    snprintf(profile, sizeof profile, "build/test-report-chromium-XXXXXX");
    assert_non_null(mkdtemp(profile));
    char abs_profile[PATH_MAX];
    assert_non_null(realpath(profile, abs_profile));
    rpt_mktemp(dom_path, "build/test-report-XXXXXX.dom", 4);
    rpt_mktemp(log_path, "build/test-report-XXXXXX.log", 4);

    int rc = run_chromium(url, abs_profile, dom_path, log_path);
    char *dom = rpt_slurp(dom_path);
    if (rc != 0 || !dom || !strstr(dom, "data-loaded=\"yes\"")) {
        char *log = rpt_slurp(log_path);
        fprintf(stderr, "chromium exit %d; its stderr:\n%.4000s\n", rc,
                log ? log : "(none)");
        fprintf(stderr, "the DOM begins:\n%.2000s\n", dom ? dom : "(none)");
        free(log);
    }
    assert_int_equal(rc, 0);
    assert_non_null(dom);
    /* the inline script ran at load and counted the figures' SVGs */
    rpt_assert_has(dom, "data-loaded=\"yes\"");
    rpt_assert_has(dom, "data-plots=\"5\"");
    assert_int_equal(rpt_count(dom, "<svg"), 5);
    /* each SVG holds its data: after gnuplot's first plot group, a path
     * or a polygon, before the SVG ends */
    const char *s = dom;
    for (int i = 0; i < 5; i++) {
        s = strstr(s, "<svg");
        assert_non_null(s);
        const char *end = strstr(s, "</svg>");
        assert_non_null(end);
        /* "-gnuplot_plot_1", or 1a, 1b in the heat map's multiplot */
        const char *group = strstr(s, "-gnuplot_plot_1");
        int drawn = 0;
        if (group && group < end) {
            const char *path = strstr(group, "<path");
            const char *poly = strstr(group, "<polygon");
            drawn = (path && path < end) || (poly && poly < end);
        }
        if (!drawn)
            fprintf(stderr, "SVG %d has no drawn data:\n%.1500s\n", i + 1, s);
        assert_true(drawn);
        s = end;
    }
    /* the text came through: a finding, escaped name shown as text */
    rpt_assert_has(dom, "1.11x the tokens/s per device of topk");

    free(dom);
    remove(dom_path);
    remove(log_path);
    rm_tree(profile);
    rpt_remove(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_browser__loads_with_every_plot_drawn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
