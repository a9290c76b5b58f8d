/*
 * Helpers shared by the plan tests and the plan bench:
 *
 *   plan_test_spec_text  a [plan] section given as text, read as if it were
 *                        part of the scenario file (node paths resolve
 *                        against the scenario's folder)
 *   plan_test_load       a scenario file that holds a [plan] section,
 *                        through scen_load, which reads [plan]
 *
 * Static functions in a header: each test program is one file.
 */
#ifndef MOESIM_TESTS_UNIT_PLAN_PLAN_TEST_H
#define MOESIM_TESTS_UNIT_PLAN_PLAN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Loads the scenario at path and its [plan] section (an error when it has
 * none). On success the caller scen_free()s *s. */
static inline int plan_test_load(const char *path, scenario *s, planspec *spec,
                                 err_t *e)
{
    int rc = scen_load(path, s, e);
    if (rc != 0)
        return rc;
    if (!s->plan.present) {
        scen_free(s);
        return err_input(e, path, 0, "no [plan] section");
    }
    *spec = s->plan;
    return 0;
}

#endif
