/*
 * moesim: the command line. The only file that wires every part together;
 * it decides what the user sees. Exit status: 0 ok, 1 simulation failure,
 * 2 bad input (err_exit_status).
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/ini.h"
#include "models/placement.h"
#include "models/trace.h"
#include "plots/report.h"
#include "results/compare.h"
#include "results/store.h"
#include "scenarios/scen.h"
#include "sim/check.h"
#include "sim/plan.h"
#include "sim/run.h"
#include "sim/tracefile.h"

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

/* ---- shared helpers ---------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Wall-clock time for the results' timestamps, UTC ISO 8601. When
 * SOURCE_DATE_EPOCH is set (the reproducible-builds convention) it is used
 * instead, and run wall times are recorded as 0, so two runs of the same
 * scenario give byte-identical databases. */
static int reproducible(void)
{
    return getenv("SOURCE_DATE_EPOCH") != NULL;
}

static void now_iso(char *buf, size_t n)
{
    const char *fixed = getenv("SOURCE_DATE_EPOCH");
    time_t t = fixed ? (time_t)strtoll(fixed, NULL, 10) : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_ulong(const char *opt, const char *v, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-') {
        fprintf(stderr, "moesim: %s '%s' is not a non-negative whole "
                        "number\n",
                opt, v);
        return 2;
    }
    *out = x;
    return 0;
}

/* One option of a command, for parse_args: a one-letter name is a short
 * option (-o FILE), a longer one a long option (--seed N, --seed=N). It
 * sets exactly one of: *str to its value, *num to its value parsed as a
 * whole number >= min, or *flag to 1 (no value). */
typedef struct cli_opt {
    const char *name;
    const char **str;
    unsigned long *num;
    unsigned long min;
    int *flag;
} cli_opt;

#define CLI_MAX_OPTS 16

/* Parses a command's arguments with getopt_long (options may come before
 * or after the positional arguments; "--" ends them) into the targets of
 * opts and the positional arguments into pos[0 .. max_pos-1] (*n_pos of
 * them). Returns 0, or 2 after telling the user what was wrong. */
static int parse_args(int argc, char **argv, const cli_opt *opts, int n_opts,
                      const char **pos, int max_pos, int *n_pos)
{
    struct option longopts[CLI_MAX_OPTS + 1];
    char shortopts[2 * CLI_MAX_OPTS + 2] = ":";
    size_t ns = 1;
    int nl = 0;
    MOESIM_ASSERT(n_opts <= CLI_MAX_OPTS);
    for (int i = 0; i < n_opts; i++) {
        int has_arg = opts[i].flag ? no_argument : required_argument;
        if (strlen(opts[i].name) == 1) {
            shortopts[ns++] = opts[i].name[0];
            if (has_arg)
                shortopts[ns++] = ':';
            shortopts[ns] = '\0';
            continue;
        }
        longopts[nl].name = opts[i].name;
        longopts[nl].has_arg = has_arg;
        longopts[nl].flag = NULL;
        longopts[nl].val = 256 + i;
        nl++;
    }
    memset(&longopts[nl], 0, sizeof longopts[nl]);
    opterr = 0;
    optind = 0; /* glibc: start afresh */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            fprintf(stderr, "moesim %s: %s '%s'; see moesim %s --help\n",
                    argv[0], c == '?' ? "unknown option" : "missing value for",
                    argv[optind - 1], argv[0]);
            return 2;
        }
        int k = -1;
        for (int i = 0; i < n_opts && k < 0; i++)
            if (c == 256 + i ||
                (strlen(opts[i].name) == 1 && c == opts[i].name[0]))
                k = i;
        MOESIM_ASSERT(k >= 0);
        const cli_opt *o = &opts[k];
        if (o->flag) {
            *o->flag = 1;
        } else if (o->str) {
            *o->str = optarg;
        } else {
            char name[64];
            snprintf(name, sizeof name, "%s%s", strlen(o->name) == 1 ? "-" : "--",
                     o->name);
            if (parse_ulong(name, optarg, o->num) != 0)
                return 2;
            if (*o->num < o->min) {
                fprintf(stderr, "moesim %s: %s %lu is below %lu\n", argv[0],
                        name, *o->num, o->min);
                return 2;
            }
        }
    }
    *n_pos = 0;
    for (int i = optind; i < argc; i++) {
        if (*n_pos == max_pos) {
            fprintf(stderr, "moesim %s: unexpected argument '%s'; see moesim "
                            "%s --help\n",
                    argv[0], argv[i], argv[0]);
            return 2;
        }
        pos[(*n_pos)++] = argv[i];
    }
    return 0;
}

/* A progress bar on a terminal, silent otherwise. */
typedef struct progress {
    int on;
    const char *policy;
    int run, runs;
    double started_s, last_s;
} progress;

static void progress_cb(void *ctx, int step, int steps, int layer, int layers)
{
    progress *p = ctx;
    if (!p->on)
        return;
    double now = mono_s();
    if (now - p->last_s < 0.1 && !(step == steps - 1 && layer == layers - 1))
        return;
    p->last_s = now;
    double done = ((double)step * layers + layer + 1) / ((double)steps * layers);
    double frac = ((double)p->run + done) / p->runs;
    double el = now - p->started_s;
    double left = frac > 0 ? el / frac - el : 0;
    int width = 24, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %3.0f%% run %d/%d %-12.12s step %d/%d layer "
                    "%d/%d  %4.0fs left ",
            bar, frac * 100, p->run + 1, p->runs, p->policy, step + 1, steps,
            layer + 1, layers, left);
    fflush(stderr);
}

/* Index of name in names[0 .. n-1], or -1. */
static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* The database a command writes: given (-o), or results/NAME SUFFIX.db in
 * buf, creating results/ if it is missing. */
static const char *db_path(const char *given, const char *name,
                           const char *suffix, char *buf, size_t n)
{
    if (given)
        return given;
    mkdir("results", 0755);
    snprintf(buf, n, "results/%s%s.db", name, suffix);
    return buf;
}

/* ---- moesim run ---------------------------------------------------------- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int cmd_run(int argc, char **argv)
{
    const char *scen_path = NULL, *db = NULL;
    int resume = 0, quiet = 0, n_pos = 0;
    const cli_opt opts[] = {{"o", &db, NULL, 0, NULL},
                            {"resume", NULL, NULL, 0, &resume},
                            {"quiet", NULL, NULL, 0, &quiet}};
    if (parse_args(argc, argv, opts, 3, &scen_path, 1, &n_pos) != 0)
        return 2;
    if (!scen_path) {
        fprintf(stderr, "moesim run: expected SCENARIO; see moesim run "
                        "--help\n");
        return 2;
    }
    err_t e;
    err_clear(&e);
    static scenario s;
    if (scen_load(scen_path, &s, &e) != 0)
        return report(&e);
    char dbbuf[512];
    int db_given = db != NULL;
    db = db_path(db, s.name, "", dbbuf, sizeof dbbuf);
    if (!resume && file_exists(db)) {
        /* a fresh run replaces the old database whole */
        char side[600];
        remove(db);
        snprintf(side, sizeof side, "%s-wal", db);
        remove(side);
        snprintf(side, sizeof side, "%s-shm", db);
        remove(side);
    }
    const char *names[SCEN_MAX_POLICIES];
    for (int i = 0; i < s.n_policies; i++)
        names[i] = s.policies[i].name;
    store_file files[4] = {{"scenario", s.path},
                           {"model", s.model.path},
                           {"node", s.node.path},
                           {"device", s.node.device.path}};
    char created[32];
    now_iso(created, sizeof created);
    store_scenario ss = {s.name, scen_phase_names[s.phase], s.text,
                         MOESIM_VERSION, created, names, s.n_policies,
                         files, 4};
    store_t *st = NULL;
    int status = 0;
    if (store_open(&st, db, &ss, &e) != 0) {
        status = report(&e);
        goto out;
    }
    catch_signals();
    progress pg = {0};
    pg.on = !quiet && isatty(STDERR_FILENO);
    pg.runs = s.n_policies * s.n_seeds;
    pg.started_s = mono_s();
    for (int pi = 0; pi < s.n_policies && status == 0; pi++) {
        for (int si = 0; si < s.n_seeds && status == 0; si++, pg.run++) {
            int done = 0;
            if (store_run_is_done(st, names[pi], s.seeds[si], &done, &e) !=
                0) {
                status = report(&e);
                break;
            }
            if (done)
                continue;
            metrics_run mr = {names[pi],
                              scen_router_names[s.policies[pi].router],
                              scen_placement_names[s.policies[pi].placement],
                              s.seeds[si]};
            char when[32];
            now_iso(when, sizeof when);
            if (store_run_begin(st, &mr, when, &e) != 0) {
                status = report(&e);
                break;
            }
            metrics_sink sink = store_sink(st, &e);
            run_opts ro = {NULL, progress_cb, &pg, &g_stop, NULL};
            pg.policy = names[pi];
            double t0 = mono_s();
            int rc = run_policy(&s, pi, s.seeds[si], &sink, &ro, NULL, &e);
            double wall = reproducible() ? 0 : mono_s() - t0;
            now_iso(when, sizeof when);
            err_t e2;
            err_clear(&e2);
            if (rc == 0) {
                if (store_run_end(st, "done", when, wall, NULL, &e2) != 0)
                    status = report(&e2);
                continue;
            }
            const char *how = rc == ERR_INTERRUPTED ? "interrupted" : "failed";
            if (store_run_abort(st, how, when, wall, e.msg, &e2) != 0)
                report(&e2);
            if (pg.on)
                fputc('\n', stderr);
            status = report(&e);
        }
    }
    if (pg.on)
        fprintf(stderr, "\r%*s\r", 100, "");
    store_close(st);
    st = NULL;
    if (status == 0) {
        compare_t *c = NULL;
        if (compare_load(&c, db, NULL, &e) != 0 ||
            compare_write(c, stdout, COMPARE_TEXT, &e) != 0)
            status = report(&e);
        compare_free(c);
        if (status == 0)
            printf("results: %s\n", db);
    } else if (status == 130) {
        fprintf(stderr, "moesim: finished runs are kept in %s; "
                        "`moesim run --resume%s%s %s` completes the rest\n",
                db, db_given ? " -o " : "", db_given ? db : "", scen_path);
    }
out:
    store_close(st);
    scen_free(&s);
    return status;
}

/* ---- moesim compare -------------------------------------------------------- */

static int cmd_compare(int argc, char **argv)
{
    const char *db = NULL, *baseline = NULL, *fmt = "text";
    int n_pos = 0;
    const cli_opt opts[] = {{"baseline", &baseline, NULL, 0, NULL},
                            {"format", &fmt, NULL, 0, NULL}};
    if (parse_args(argc, argv, opts, 2, &db, 1, &n_pos) != 0)
        return 2;
    if (!db) {
        fprintf(stderr, "moesim compare: expected DB; see moesim compare "
                        "--help\n");
        return 2;
    }
    err_t e;
    err_clear(&e);
    compare_format f;
    compare_t *c = NULL;
    int status = 0;
    if (compare_parse_format(fmt, &f, &e) != 0 ||
        compare_load(&c, db, baseline, &e) != 0 ||
        compare_write(c, stdout, f, &e) != 0)
        status = report(&e);
    compare_free(c);
    return status;
}

/* ---- moesim plan ---------------------------------------------------------- */

static void plan_progress(void *ctx, int done, int total)
{
    (void)ctx;
    fprintf(stderr, "\rplanning: %d/%d candidates ", done, total);
    if (done == total)
        fprintf(stderr, "\r%*s\r", 40, "");
    fflush(stderr);
}

static int cmd_plan(int argc, char **argv)
{
    const char *scen_path = NULL, *db = NULL;
    unsigned long jobs = 0;
    int quiet = 0, n_pos = 0;
    const cli_opt opts[] = {{"o", &db, NULL, 0, NULL},
                            {"j", NULL, &jobs, 0, NULL},
                            {"quiet", NULL, NULL, 0, &quiet}};
    if (parse_args(argc, argv, opts, 3, &scen_path, 1, &n_pos) != 0)
        return 2;
    if (!scen_path) {
        fprintf(stderr, "moesim plan: expected SCENARIO; see moesim plan "
                        "--help\n");
        return 2;
    }
    err_t e;
    err_clear(&e);
    static scenario s;
    if (scen_load(scen_path, &s, &e) != 0)
        return report(&e);
    int status = 0;
    if (!s.plan.present) {
        err_input(&e, scen_path, 0, "no [plan] section; expected one to plan "
                                    "with (see README, Capacity planning)");
        status = report(&e);
        goto out;
    }
    char dbbuf[512];
    db = db_path(db, s.name, "-plan", dbbuf, sizeof dbbuf);
    char created[32];
    now_iso(created, sizeof created);
    catch_signals();
    /* each worker is a process of its own: one BLAS thread each */
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    plan_opts o;
    memset(&o, 0, sizeof o);
    o.workers = (int)jobs;
    o.created_at = created;
    o.reproducible = reproducible();
    o.progress = !quiet && isatty(STDERR_FILENO) ? plan_progress : NULL;
    o.stop = &g_stop;
    if (plan_run(&s, &s.plan, db, stdout, &o, NULL, &e) != 0)
        status = report(&e);
    else
        printf("results: %s\n", db);
out:
    scen_free(&s);
    return status;
}

/* ---- moesim report ------------------------------------------------------- */

static int cmd_report(int argc, char **argv)
{
    const char *db = NULL, *out = NULL, *baseline = NULL, *plan = NULL;
    const char *plots_dir = "plots";
    int n_pos = 0;
    const cli_opt opts[] = {{"o", &out, NULL, 0, NULL},
                            {"plan", &plan, NULL, 0, NULL},
                            {"baseline", &baseline, NULL, 0, NULL},
                            {"plots-dir", &plots_dir, NULL, 0, NULL}};
    if (parse_args(argc, argv, opts, 4, &db, 1, &n_pos) != 0)
        return 2;
    if ((!db && !plan) || !out) {
        fprintf(stderr, "moesim report: expected DB and/or --plan PLAN_DB, "
                        "and -o FILE.html; see moesim report --help\n");
        return 2;
    }
    err_t e;
    err_clear(&e);
    report_options o = {plots_dir, baseline, NULL, plan};
    if (report_write(db, out, &o, &e) != 0)
        return report(&e);
    printf("report: %s\n", out);
    return 0;
}

/* ---- moesim trace ---------------------------------------------------------- */

/* Imports a serving engine's routed-expert array into a trace for the
 * model and cluster given, experts placed contiguously. */
static int trace_import(const char *routes_path, const char *model_path,
                        const char *node_path, int nodes,
                        unsigned long tokens_per_step, const char *out_path)
{
    err_t e;
    err_clear(&e);
    model_desc m;
    hw_node n;
    if (model_load(model_path, &m, &e) != 0 || hw_node_load(node_path, &n, &e))
        return report(&e);
    trace_routes_t *routes = NULL;
    size_t len = strlen(routes_path);
    int is_npy = len > 4 && strcmp(routes_path + len - 4, ".npy") == 0;
    int rc = is_npy ? trace_import_npy(routes_path, (uint32_t)m.routed_experts,
                                       &routes, &e)
                    : trace_import_csv(routes_path, (uint32_t)m.routed_experts,
                                       &routes, &e);
    if (rc != 0)
        return report(&e);
    placement_t *pl = NULL;
    uint32_t devices = (uint32_t)(nodes * n.devices);
    if (routes->layers != (uint32_t)model_moe_layers(&m)) {
        err_set(&e, ERR_INPUT, "%s: %u MoE layers recorded but %s has %d; "
                               "expected the model the routes came from",
                routes_path, routes->layers, m.name, model_moe_layers(&m));
        rc = ERR_INPUT;
    }
    if (rc == 0)
        rc = placement_create_contiguous(&pl, routes->layers,
                                         (uint32_t)m.routed_experts, devices,
                                         (uint32_t)n.devices, &e);
    if (rc == 0) {
        trace_meta_t meta = {m.name, "imported", "recorded", "contiguous", 0,
                             routes->top_k, TRACE_FLAG_IMPORTED};
        trace_split_t split = {(uint32_t)tokens_per_step, TRACE_SRC_BLOCKS};
        rc = trace_routes_write(routes, out_path, pl, &meta, &split, &e);
    }
    placement_destroy(pl);
    trace_routes_destroy(routes);
    if (rc != 0)
        return report(&e);
    printf("trace: %s\n", out_path);
    return 0;
}

static int cmd_trace(int argc, char **argv)
{
    const char *scen_path = NULL, *policy = NULL, *out = NULL, *stats = NULL;
    const char *import = NULL, *model = NULL, *node = NULL;
    unsigned long seed = ULONG_MAX, nodes = 1, tps = 0;
    int n_pos = 0;
    const cli_opt opts[] = {{"o", &out, NULL, 0, NULL},
                            {"policy", &policy, NULL, 0, NULL},
                            {"seed", NULL, &seed, 0, NULL},
                            {"stats", &stats, NULL, 0, NULL},
                            {"import", &import, NULL, 0, NULL},
                            {"model", &model, NULL, 0, NULL},
                            {"node", &node, NULL, 0, NULL},
                            {"nodes", NULL, &nodes, 1, NULL},
                            {"tokens-per-step", NULL, &tps, 0, NULL}};
    if (parse_args(argc, argv, opts, 9, &scen_path, 1, &n_pos) != 0)
        return 2;
    int have_seed = seed != ULONG_MAX;
    err_t e;
    err_clear(&e);
    if (stats) {
        if (tracefile_stats(stats, stdout, &e) != 0)
            return report(&e);
        return 0;
    }
    if (import) {
        if (!model || !node || !out) {
            fprintf(stderr, "moesim trace --import needs --model, --node and "
                            "-o\n");
            return 2;
        }
        return trace_import(import, model, node, (int)nodes, tps, out);
    }
    if (!scen_path || !policy || !out) {
        fprintf(stderr, "moesim trace: expected SCENARIO --policy NAME -o "
                        "FILE; see moesim trace --help\n");
        return 2;
    }
    static scenario s;
    if (scen_load(scen_path, &s, &e) != 0)
        return report(&e);
    int pi = scen_find_policy(&s, policy);
    int status = 0;
    if (pi < 0) {
        fprintf(stderr, "moesim trace: %s has no [policy %s]\n", scen_path,
                policy);
        status = 2;
    } else {
        run_opts ro = {out, NULL, NULL, NULL, NULL};
        catch_signals();
        ro.stop = &g_stop;
        if (run_policy(&s, pi, have_seed ? seed : s.seeds[0], NULL, &ro, NULL,
                       &e) != 0)
            status = report(&e);
        else
            printf("trace: %s\n", out);
    }
    scen_free(&s);
    return status;
}

/* ---- moesim replay ----------------------------------------------------------- */

/* The model file among models/ *.ini whose name is the one the trace
 * records, into *m. */
static int find_model(const char *trace, model_desc *m, err_t *e)
{
    trace_reader_t *tr = NULL;
    int rc = trace_reader_open(&tr, trace, e);
    if (rc != 0)
        return rc;
    char want[TRACE_NAME_BYTES];
    snprintf(want, sizeof want, "%s", trace_reader_info(tr)->model);
    trace_reader_destroy(tr);
    glob_t g;
    int found = 0;
    if (glob("models/*.ini", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && !found; i++) {
            err_t ignore;
            if (model_load(g.gl_pathv[i], m, &ignore) == 0 &&
                strcmp(m->name, want) == 0)
                found = 1;
        }
        globfree(&g);
    }
    if (!found)
        return err_set(e, ERR_INPUT, "%s: no file in models/ describes the "
                                     "model '%s' the trace was recorded with; "
                                     "expected --model FILE",
                       trace, want);
    return 0;
}

static int cmd_replay(int argc, char **argv)
{
    const char *trace = NULL, *node = NULL, *model = NULL, *phase = "prefill";
    const char *network = "analytic";
    const char *dtypes[3] = {NULL, NULL, NULL}; /* weight, activation, kv */
    unsigned long nodes = 1, ctx = 2048;
    int n_pos = 0;
    const cli_opt opts[] = {{"node", &node, NULL, 0, NULL},
                            {"model", &model, NULL, 0, NULL},
                            {"phase", &phase, NULL, 0, NULL},
                            {"network", &network, NULL, 0, NULL},
                            {"weight-dtype", &dtypes[0], NULL, 0, NULL},
                            {"activation-dtype", &dtypes[1], NULL, 0, NULL},
                            {"kv-dtype", &dtypes[2], NULL, 0, NULL},
                            {"nodes", NULL, &nodes, 1, NULL},
                            {"context-len", NULL, &ctx, 1, NULL}};
    if (parse_args(argc, argv, opts, 9, &trace, 1, &n_pos) != 0)
        return 2;
    if (!trace || !node) {
        fprintf(stderr, "moesim replay: expected TRACE --node FILE; see "
                        "moesim replay --help\n");
        return 2;
    }
    static scenario s;
    memset(&s, 0, sizeof s);
    err_t e;
    err_clear(&e);
    int ph = name_index(scen_phase_names, SCEN_PHASE_COUNT, phase);
    if (ph < 0 || (strcmp(network, "analytic") && strcmp(network, "flow"))) {
        fprintf(stderr, "moesim replay: --phase takes train, prefill or "
                        "decode; --network analytic or flow\n");
        return 2;
    }
    if ((model ? model_load(model, &s.model, &e) : find_model(trace, &s.model, &e)) != 0 ||
        hw_node_load(node, &s.node, &e) != 0)
        return report(&e);
    model_desc *md = &s.model;
    model_dtype *fields[3] = {&md->weight_dtype, &md->activation_dtype,
                              &md->kv_dtype};
    for (int i = 0; i < 3; i++) {
        if (!dtypes[i])
            continue;
        int found = name_index(model_dtype_names, MODEL_DTYPE_COUNT, dtypes[i]);
        if (found < 0) {
            fprintf(stderr, "moesim replay: unknown dtype '%s'; expected "
                            "bf16, fp16, fp8 or int8\n",
                    dtypes[i]);
            return 2;
        }
        *fields[i] = (model_dtype)found;
    }
    snprintf(s.name, sizeof s.name, "replay");
    snprintf(s.path, sizeof s.path, "%s", trace);
    s.phase = (scen_phase)ph;
    s.nodes = (int)nodes;
    s.context_len = (int)ctx;
    s.micro_batches = 1;
    s.network = strcmp(network, "flow") == 0 ? SCEN_NET_FLOW : SCEN_NET_ANALYTIC;
    workload_params_default(&s.workload);
    metrics_summary sm;
    if (tracefile_prepare(trace, &s, &e) != 0 ||
        tracefile_replay(trace, &s, NULL, &sm, &e) != 0)
        return report(&e);
    printf("trace = %s\nnode = %s\nnodes = %d\ndevices = %d\nsteps = %d\n",
           trace, s.node.name, s.nodes, s.devices, sm.steps);
    printf("step_s = %.6g\ntokens_per_s = %.6g\ntokens_per_s_per_device = "
           "%.6g\n",
           sm.step_s, sm.tokens_per_s, sm.tokens_per_s_per_device);
    printf("imbalance_score = %.6g\ndevice_max_over_mean = %.6g\n"
           "expert_max_over_mean = %.6g\n",
           sm.imbalance_score, sm.device_max_over_mean,
           sm.expert_max_over_mean);
    printf("a2a_share = %.6g\nidle_share = %.6g\nbytes_inter_node_per_step = "
           "%.6g\nbytes_intra_node_per_step = %.6g\nmfu = %.6g\n",
           sm.a2a_share, sm.idle_share, sm.bytes_inter_node_per_step,
           sm.bytes_intra_node_per_step, sm.mfu);
    return 0;
}

static const command commands[] = {
    {"check", cmd_check, "moesim check FILE...",
     "Validates a scenario, model, node or device file (and every file it\n"
     "names) and prints one `name = value` line per derived fact: parameter\n"
     "counts, bytes per expert per dtype, KV-cache bytes per token, the\n"
     "roofline ridge point, and for a scenario the memory each device needs\n"
     "per policy and whether it fits in HBM.\n"
     "Example: moesim check scenarios/default.ini\n"},
    {"run", cmd_run, "moesim run SCENARIO [-o DB] [--resume] [--quiet]",
     "Simulates every policy of the scenario for every seed (workload,\n"
     "router, placement, replay on the cluster), writes one SQLite database\n"
     "(default results/<scenario name>.db, replaced unless --resume) and\n"
     "prints the comparison. A progress bar shows on a terminal. SIGINT or\n"
     "SIGTERM stops after the current layer: finished runs stay, the\n"
     "current one is marked interrupted, and --resume completes the rest.\n"
     "SOURCE_DATE_EPOCH pins the timestamps for byte-identical databases.\n"
     "Example: moesim run scenarios/default.ini -o results/default.db\n"},
    {"compare", cmd_compare,
     "moesim compare DB [--baseline POLICY] [--format text|csv]",
     "One row per policy: step time, tokens/s per device, time per output\n"
     "token (decode) or to first token (prefill), Imbalance Score, per-device\n"
     "max/mean, all-to-all and idle shares, inter-node bytes; the mean over\n"
     "seeds with a 95% confidence interval and the ratio to the baseline\n"
     "(default: the scenario's first policy).\n"
     "Example: moesim compare results/default.db --baseline topk\n"},
    {"plan", cmd_plan, "moesim plan SCENARIO [-o DB] [-j N] [--quiet]",
     "Capacity planning from the scenario's [plan] section: for every\n"
     "candidate (node file x node count x policy x layout) it checks memory,\n"
     "finds by bisection over the simulator the largest batch per device\n"
     "that meets the latency limit (decode TPOT, prefill TTFT) or the days\n"
     "to the token budget (train), the replicas the throughput target needs,\n"
     "ranks the feasible candidates by cost (devices, power or price),\n"
     "marks the cost-latency Pareto front, prints the ranking and a\n"
     "recommendation with its margin, and writes every candidate to SQLite\n"
     "(default results/<scenario>-plan.db). -j sets worker processes\n"
     "(default: one per CPU). Infeasible candidates say why.\n"
     "Example: moesim plan scenarios/plan-pangu-decode.ini\n"},
    {"report", cmd_report,
     "moesim report DB -o FILE.html [--plan PLAN_DB] [--baseline POLICY] "
     "[--plots-dir DIR]\n"
     "  moesim report --plan PLAN_DB -o FILE.html",
     "Writes one self-contained HTML page (plots inline as SVG, nothing\n"
     "fetched): the scenario and hardware, the comparison table, and five\n"
     "plots drawn by gnuplot from plots/*.gp (Imbalance Score per layer,\n"
     "device-by-step load heat map, time breakdown, tokens/s per device,\n"
     "busiest links), each with a finding computed from the data.\n"
     "--plan adds a section on the latest plan of a moesim plan database:\n"
     "target, limit, the recommendation with its margins, the candidate\n"
     "counts, tokens/s per device against devices per policy, and cost\n"
     "against latency with the Pareto front. Without DB the page holds\n"
     "the plan section only.\n"
     "Example: moesim report results/default.db -o default.html\n"
     "         moesim report --plan results/plan-pangu-decode-plan.db "
     "-o plan.html\n"},
    {"trace", cmd_trace,
     "moesim trace SCENARIO --policy NAME -o FILE [--seed N]\n"
     "  moesim trace --stats FILE\n"
     "  moesim trace --import ROUTES.npy|.csv --model FILE --node FILE "
     "[--nodes N] [--tokens-per-step T] -o FILE",
     "Writes the token trace of one policy (every step and MoE layer, each\n"
     "token's source device and routed experts); prints a trace's routing\n"
     "statistics per layer; or imports a serving engine's routed-expert\n"
     "array (vLLM int16 [tokens, moe_layers, top_k], .npy or CSV) into a\n"
     "trace with experts placed contiguously.\n"
     "Example: moesim trace scenarios/default.ini --policy topk -o topk.trace\n"
     "         moesim trace --stats topk.trace\n"},
    {"replay", cmd_replay,
     "moesim replay TRACE --node FILE [--nodes N] [--model FILE] "
     "[--phase P] [--context-len N] [--network analytic|flow] "
     "[--weight-dtype T] [--activation-dtype T] [--kv-dtype T]",
     "Replays a trace on a cluster of N nodes (the trace's device count must\n"
     "match) with the trace's placement, and prints the measured figures.\n"
     "The model is the file in models/ whose name the trace records, or\n"
     "--model FILE. The dtype options run the model in another precision,\n"
     "as the scenario keys of the same names do.\n"
     "Tokens per device come from the trace; --phase (default prefill) and\n"
     "--context-len (decode) set the attention cost.\n"
     "Example: moesim replay topk.trace --node hardware/atlas-800i-a2.ini "
     "--phase decode\n"},
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
