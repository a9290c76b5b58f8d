/*
 * Helpers shared by the trace tests: a scratch directory per test program,
 * whole-file read and write. Included by each test_*.c (not a test itself).
 */
#ifndef MOESIM_TESTS_TRACE_UTIL_H
#define MOESIM_TESTS_TRACE_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch_dir[64];

/* Creates the scratch directory; 0 or -1. */
static inline int scratch_make(void)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/moesim-trace-XXXXXX");
    return mkdtemp(scratch_dir) ? 0 : -1;
}

/* Removes every file in the scratch directory, then the directory. */
static inline void scratch_remove(void)
{
    DIR *d = opendir(scratch_dir);
    if (!d)
        return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", scratch_dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(scratch_dir);
}

/* Number of entries in the scratch directory. */
static inline int scratch_count(void)
{
    DIR *d = opendir(scratch_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static inline void scratch_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", scratch_dir, name);
}

/* Reads a whole file into a malloc'd buffer (caller frees). */
static inline uint8_t *slurp(const char *path, size_t *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *bytes = (size_t)n;
    return buf;
}

static inline int spit(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(bytes, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

#endif
