#include "plots/gnuplot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* gnuplot's stderr kept in an error message. */
#define STDERR_MAX 600

struct gnuplot {
    char *program;
    char *scripts_dir;
    char dir[PATH_MAX]; /* the private folder; "" once removed */
};

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

int gnuplot_open(gnuplot_t **out, const char *program,
                 const char *scripts_dir, err_t *e)
{
    int rc = 0;
    gnuplot_t *g = NULL;
    *out = NULL;

    if (has_control(scripts_dir))
        return err_set(e, ERR_INPUT,
                       "plots folder '%s': control character in the path; "
                       "expected a plain path",
                       scripts_dir);
    if (!(g = calloc(1, sizeof *g)) || !(g->program = strdup(program)) ||
        !(g->scripts_dir = strdup(scripts_dir))) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(g->dir, sizeof g->dir, "%s/moesim-report-XXXXXX", base);
    if (n < 0 || n >= (int)sizeof g->dir || has_control(g->dir)) {
        g->dir[0] = '\0';
        rc = err_set(e, ERR_IO,
                     "TMPDIR '%s': too long or holds a control character; "
                     "expected a plain folder path",
                     base);
        goto fail;
    }
    if (!mkdtemp(g->dir)) {
        int err = errno;
        g->dir[0] = '\0';
        rc = err_set(e, ERR_IO, "cannot create a temporary folder in %s: %s",
                     base, strerror(err));
        goto fail;
    }
    *out = g;
    return 0;
fail:
    gnuplot_close(g);
    return rc;
}

/* Best effort: nothing but this module writes in the folder (mkdtemp
 * made it 0700), so removing every entry and the folder is safe. */
void gnuplot_close(gnuplot_t *g)
{
    if (!g)
        return;
    if (g->dir[0]) {
        DIR *d = opendir(g->dir);
        if (d) {
            struct dirent *de;
            char path[PATH_MAX];
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 ||
                    strcmp(de->d_name, "..") == 0)
                    continue;
                if (snprintf(path, sizeof path, "%s/%s", g->dir,
                             de->d_name) < (int)sizeof path)
                    (void)unlink(path);
            }
            closedir(d);
        }
        (void)rmdir(g->dir);
    }
    free(g->scripts_dir);
    free(g->program);
    free(g);
}

int gnuplot_path(const gnuplot_t *g, const char *name, char *out, size_t n,
                 err_t *e)
{
    int w = snprintf(out, n, "%s/%s", g->dir, name);
    if (w < 0 || (size_t)w >= n)
        return err_set(e, ERR_IO, "%s/%s: path too long", g->dir, name);
    return 0;
}

int gnuplot_data_open(gnuplot_t *g, const char *name, FILE **out, err_t *e)
{
    char path[PATH_MAX];
    int rc = gnuplot_path(g, name, path, sizeof path, e);
    if (rc != 0)
        return rc;
    if (!(*out = fopen(path, "w")))
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

void gnuplot_string(FILE *f, const char *name, const char *value)
{
    fprintf(f, "%s='", name);
    for (const char *s = value; *s; s++) {
        if (*s == '\'')
            fputs("''", f);
        else
            fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
    fputs("'; ", f);
}

void gnuplot_number(FILE *f, double x)
{
    if (isnan(x))
        fputs("NaN", f);
    else
        fprintf(f, "%.17g", x);
}

/* The whole file as a string the caller frees; NULL with errno set. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (!f)
        return NULL;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        char chunk[8192];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
            fwrite(chunk, 1, got, m);
        int bad = ferror(f) || ferror(m);
        fclose(m);
        if (bad) {
            free(buf);
            buf = NULL;
            errno = EIO;
        }
    }
    fclose(f);
    return buf;
}

/* svg[0, end) with ids and references prefixed and <title>s dropped (see
 * the header). A plain scan rather than an XML parser: the text is
 * gnuplot's own svg terminal output, whose attribute spelling is fixed
 * (id='...' or id="...", xlink:href='#...', url(#...)). NULL when out of
 * memory. */
static char *svg_embed(const char *svg, const char *end, const char *prefix)
{
    static const char *const refs[] = {"id='", "id=\"", "href='#",
                                       "href=\"#", "url(#"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (const char *s = svg; s < end;) {
        if (strncmp(s, "<title>", 7) == 0) {
            const char *close = strstr(s, "</title>");
            if (close && close < end) {
                s = close + 8;
                continue;
            }
        }
        size_t k;
        for (k = 0; k < sizeof refs / sizeof *refs; k++) {
            size_t n = strlen(refs[k]);
            /* "id=" only as an attribute, after white space */
            int ok = k >= 2 || (s > svg && (s[-1] == ' ' || s[-1] == '\t' ||
                                            s[-1] == '\n'));
            if (ok && strncmp(s, refs[k], n) == 0) {
                fwrite(s, 1, n, f);
                fprintf(f, "%s-", prefix);
                s += n;
                break;
            }
        }
        if (k == sizeof refs / sizeof *refs)
            fputc(*s++, f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* gnuplot's stderr, trimmed and cut (keeping its end) to fit a message. */
static void stderr_text(const char *path, char *out, size_t n)
{
    char *s = read_file(path);
    size_t len = s ? strlen(s) : 0;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        s[--len] = '\0';
    if (len == 0)
        snprintf(out, n, "(no message)");
    else if (len >= n)
        snprintf(out, n, "...%s", s + len - (n - 4));
    else
        snprintf(out, n, "%s", s);
    free(s);
}

int gnuplot_draw(gnuplot_t *g, const char *script, const char *vars,
                 const char *id_prefix, char **svg_out, err_t *e)
{
    char script_path[PATH_MAX], name[NAME_MAX], svg_path[PATH_MAX],
        err_path[PATH_MAX];
    char *cmds = NULL, *svg = NULL;
    size_t cmds_len = 0;
    posix_spawn_file_actions_t fa;
    int fa_ok = 0, rc = 0;
    pid_t pid;
    *svg_out = NULL;

    int w = snprintf(script_path, sizeof script_path, "%s/%s.gp",
                     g->scripts_dir, script);
    if (w < 0 || w >= (int)sizeof script_path)
        return err_set(e, ERR_INPUT, "%s/%s.gp: path too long",
                       g->scripts_dir, script);
    snprintf(name, sizeof name, "%.200s.svg", script);
    if ((rc = gnuplot_path(g, name, svg_path, sizeof svg_path, e)) != 0)
        return rc;
    snprintf(name, sizeof name, "%.200s.err", script);
    if ((rc = gnuplot_path(g, name, err_path, sizeof err_path, e)) != 0)
        return rc;
    FILE *c = open_memstream(&cmds, &cmds_len);
    if (!c)
        return err_set(e, ERR_NOMEM, "out of memory");
    gnuplot_string(c, "plotsdir", g->scripts_dir);
    fputs(vars, c);
    if (fclose(c) != 0) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }

    char arg_d[] = "-d", arg_e[] = "-e";
    char *argv[] = {g->program, arg_d, arg_e, cmds, script_path, NULL};
    if (posix_spawn_file_actions_init(&fa) != 0) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    fa_ok = 1;
    int sp = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                              0);
    if (sp == 0)
        sp = posix_spawn_file_actions_addopen(
            &fa, 1, svg_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (sp == 0)
        sp = posix_spawn_file_actions_addopen(
            &fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (sp == 0)
        sp = posix_spawnp(&pid, g->program, &fa, NULL, argv, environ);
    if (sp != 0) {
        rc = err_set(e, ERR_IO,
                     "cannot run %s to draw the %s plot: %s; expected "
                     "gnuplot on PATH (Debian package gnuplot-nox)",
                     g->program, script, strerror(sp));
        goto fail;
    }
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (waited < 0) {
        rc = err_set(e, ERR_IO, "waiting for %s: %s", g->program,
                     strerror(errno));
        goto fail;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[STDERR_MAX];
        stderr_text(err_path, msg, sizeof msg);
        if (WIFEXITED(status))
            rc = err_set(e, ERR_IO, "%s failed on %s (exit status %d): %s",
                         g->program, script_path, WEXITSTATUS(status), msg);
        else
            rc = err_set(e, ERR_IO, "%s failed on %s (signal %d): %s",
                         g->program, script_path,
                         WIFSIGNALED(status) ? WTERMSIG(status) : 0, msg);
        goto fail;
    }
    if (!(svg = read_file(svg_path))) {
        rc = err_set(e, ERR_IO, "%s: %s", svg_path, strerror(errno));
        goto fail;
    }
    const char *start = strstr(svg, "<svg");
    const char *end = NULL;
    for (const char *s = start; s && (s = strstr(s, "</svg>")); s += 6)
        end = s + 6;
    if (!start || !end) {
        rc = err_set(e, ERR_IO, "%s wrote no complete SVG for %s", g->program,
                     script_path);
        goto fail;
    }
    if (!(*svg_out = svg_embed(start, end, id_prefix)))
        rc = err_set(e, ERR_NOMEM, "out of memory");
fail:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    free(svg);
    free(cmds);
    return rc;
}
