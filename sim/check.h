/*
 * check: `moesim check FILE`. Loads a device, node, model or scenario file
 * (the kind is told by its sections), validates it fully, and writes one
 * `name = value` line per derived fact to out, units in names.
 */
#ifndef MOESIM_SIM_CHECK_H
#define MOESIM_SIM_CHECK_H

#include <stdio.h>

#include "common/err.h"

/* Returns 0, or ERR_INPUT (FILE:LINE in e) for a bad file; nothing is
 * written to out unless the whole file is valid. */
int check_file(const char *path, FILE *out, err_t *e);

#endif
