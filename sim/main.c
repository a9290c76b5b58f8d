/*
 * moesim: the command line. The only file that wires every part together;
 * it decides what the user sees. Exit status: 0 ok, 1 simulation failure,
 * 2 bad input (err_exit_status).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "sim/check.h"

#define MOESIM_VERSION "0.1.0"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;   /* one line */
    const char *help;    /* the rest of --help */
} command;

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int report(const err_t *e)
{
    fprintf(stderr, "moesim: %s\n", e->msg);
    return err_exit_status(e->code);
}

static int cmd_check(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "moesim check: expected FILE; see moesim check "
                        "--help\n");
        return 2;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        err_t e;
        err_clear(&e);
        if (argc > 2)
            printf("# %s\n", argv[i]);
        if (check_file(argv[i], stdout, &e) != 0) {
            int s = report(&e);
            if (s > status)
                status = s;
        }
    }
    return status;
}

static const command commands[] = {
    {"check", cmd_check, "moesim check FILE...",
     "Validates a scenario, model, node or device file (and every file it\n"
     "names) and prints one `name = value` line per derived fact: parameter\n"
     "counts, bytes per expert per dtype, KV-cache bytes per token, the\n"
     "roofline ridge point, and for a scenario the memory each device needs\n"
     "per policy and whether it fits in HBM.\n"
     "Example: moesim check scenarios/default.ini\n"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof *commands))

static void usage(FILE *f)
{
    fprintf(f, "moesim %s: MoE routing policies on simulated Ascend and GPU "
               "clusters\n\nUsage:\n",
            MOESIM_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\n`moesim COMMAND --help` explains one command. Exit status: "
               "0 ok, 1 simulation failure, 2 bad input.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("moesim %s\n", MOESIM_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            printf("Usage: %s\n\n%s", commands[i].usage, commands[i].help);
            return 0;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "moesim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
