/*
 * Helpers shared by the plan tests and the plan bench: a scenario with its
 * [plan] section, built without depending on whether scen_load already
 * reads [plan] (the lead wires planspec_load into scenarios/scen.c).
 *
 *   plan_test_spec_text  a [plan] section given as text, read as if it were
 *                        part of the scenario file (node paths resolve
 *                        against the scenario's folder)
 *   plan_test_load       a scenario file that holds a [plan] section: the
 *                        scenario part is loaded through scen_load from a
 *                        copy without [plan] in the same folder (so its
 *                        relative paths hold), the [plan] part from the
 *                        original text with every other line blanked (so
 *                        line numbers stay exact)
 *
 * Static functions in a header: each test program is one file.
 */
#ifndef MOESIM_TESTS_UNIT_PLAN_PLAN_TEST_H
#define MOESIM_TESTS_UNIT_PLAN_PLAN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ini.h"
#include "scenarios/plan.h"
#include "scenarios/scen.h"

/* Reads the [plan] section in text (named name in messages) against the
 * scenario s into *spec. Returns planspec_load's code, or the INI reader's,
 * or ini_check_unused's. */
static inline int plan_test_spec_text(const char *name, const char *text,
                               const scenario *s, planspec *spec, err_t *e)
{
    inidoc *d = NULL;
    int rc = ini_load_string(name, text, &d, e);
    if (rc != 0)
        return rc;
    int sec = ini_find_section(d, "plan");
    if (sec < 0)
        rc = err_input(e, name, 0, "no [plan] section");
    else if ((rc = planspec_load(d, sec, s, spec, e)) == 0)
        rc = ini_check_unused(d, "[plan]", e);
    ini_destroy(d);
    return rc;
}

/* text with the lines of [plan] (keep_plan) or of every other section
 * (!keep_plan) replaced by empty lines. Caller frees. */
static inline char *plan_test_filter(const char *text, int keep_plan)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    int in_plan = 0;
    size_t o = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '[')
            in_plan = strncmp(q, "[plan]", 6) == 0;
        if (in_plan == keep_plan) {
            memcpy(out + o, p, len);
            o += len;
        } else if (nl) {
            out[o++] = '\n';
        }
        p += len;
    }
    out[o] = '\0';
    return out;
}

static inline char *plan_test_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* Loads the scenario at path (in a folder the test may write to) and its
 * [plan] section. On success the caller scen_free()s *s. */
static inline int plan_test_load(const char *path, scenario *s, planspec *spec,
                          err_t *e)
{
    int rc = ERR_IO;
    char *text = plan_test_read(path);
    char *scen_part = text ? plan_test_filter(text, 0) : NULL;
    char *plan_part = text ? plan_test_filter(text, 1) : NULL;
    char tmp[1024];
    const char *slash = strrchr(path, '/');
    snprintf(tmp, sizeof tmp, "%.*splan-test-XXXXXX.ini",
             slash ? (int)(slash - path + 1) : 0, path);
    int fd = scen_part && plan_part ? mkstemps(tmp, 4) : -1;
    if (fd < 0) {
        err_set(e, ERR_IO, "%s: cannot read it or write a copy", path);
        goto done;
    }
    size_t len = strlen(scen_part);
    ssize_t wr = write(fd, scen_part, len);
    close(fd);
    if (wr != (ssize_t)len) {
        err_set(e, ERR_IO, "%s: cannot write", tmp);
        unlink(tmp);
        goto done;
    }
    rc = scen_load(tmp, s, e);
    unlink(tmp);
    if (rc != 0)
        goto done;
    snprintf(s->path, sizeof s->path, "%s", path);
    rc = plan_test_spec_text(path, plan_part, s, spec, e);
    if (rc != 0)
        scen_free(s);
done:
    free(plan_part);
    free(scen_part);
    free(text);
    return rc;
}

#endif
