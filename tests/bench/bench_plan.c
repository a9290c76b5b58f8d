/*
 * bench_plan: speed of a capacity plan. Prints "name = value unit".
 *
 * Pangu Pro MoE decode (2K context, 3 steps per probe) at 20,000 output
 * tokens/s under TPOT 50 ms, over 9 node files (Atlas 800I A2, 800T A2,
 * 300I Duo; HGX A100, H100, H800, H20, H200, B200) x node counts 1, 2, 4,
 * 8 x policies topk, moge x EP sizes 8, 16, 32, all x attention-DP sizes
 * 8, all: 210 candidates whose layout is valid, each searched for its
 * largest batch with the simulator. The target is >= 200 candidates in
 * under 2 minutes on the 2-core reference machine, with one worker process
 * per online CPU (plan_opts.workers = 0); an argument sets the number of
 * workers instead ("bench_plan 1" times one process).
 *
 * Runtime about 1 minute on 2 cores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scen.h"
#include "sim/plan.h"
#include "tests/unit/plan/plan_test.h"

static const char plan_text[] =
    "[plan]\n"
    "target = decode\n"
    "output_tokens_per_s = 20000\n"
    "tpot_ms_max = 50\n"
    "nodes_files = ../hardware/atlas-800i-a2.ini, "
    "../hardware/atlas-800t-a2.ini, ../hardware/atlas-300i-duo.ini, "
    "../hardware/hgx-a100.ini, ../hardware/hgx-h100.ini, "
    "../hardware/hgx-h800.ini, ../hardware/hgx-h20.ini, "
    "../hardware/hgx-h200.ini, ../hardware/hgx-b200.ini\n"
    "node_counts = 1, 2, 4, 8\n"
    "policies = topk, moge\n"
    "ep_sizes = 8, 16, 32, all\n"
    "attn_dp_sizes = 8, all\n"
    "batch_max = 256\n"
    "plan_steps = 3\n";

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "bench_plan: %s: %s\n", what, e->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    static scenario s; /* large: keep it off the stack */
    static planspec spec;
    err_t e;
    err_clear(&e);
    const char *path = "scenarios/pangu-decode-800i.ini";
    if (scen_load(path, &s, &e) != 0)
        die("scen_load", &e);
    if (plan_test_spec_text(path, plan_text, &s, &spec, &e) != 0)
        die("planspec", &e);
    plan_opts o;
    memset(&o, 0, sizeof o);
    o.workers = argc > 1 ? atoi(argv[1]) : 0;
    plan_result r;
    if (plan_run(&s, &spec, NULL, NULL, &o, &r, &e) != 0)
        die("plan_run", &e);
    long probes = 0;
    int by_status[PLAN_STATUS_COUNT] = {0};
    for (int i = 0; i < r.n; i++) {
        probes += r.cands[i].probes;
        by_status[r.cands[i].status]++;
    }
    printf("plan_candidates = %d\n", r.n_evaluated);
    printf("plan_candidates_invalid_layouts = %d\n", r.n - r.n_evaluated);
    printf("plan_feasible = %d\n", r.n_feasible);
    for (int k = PLAN_NO_FIT; k < PLAN_STATUS_COUNT; k++)
        if (k != PLAN_INVALID && by_status[k] > 0)
            printf("plan_%s = %d\n", plan_status_names[k], by_status[k]);
    printf("plan_workers = %d\n", r.workers);
    printf("plan_wall_s = %.2f s\n", r.wall_s);
    printf("plan_candidates_per_s = %.2f\n", r.n_evaluated / r.wall_s);
    printf("plan_probes = %ld\n", probes);
    printf("plan_probes_per_candidate = %.2f\n",
           r.n_evaluated > 0 ? (double)probes / r.n_evaluated : 0.0);
    if (r.best >= 0) {
        const plan_candidate *b = &r.cands[r.best];
        printf("plan_best = %s x %d, %s, EP%d DP%d, %d devices\n",
               spec.node_files[b->node_file].name, b->nodes,
               s.policies[b->policy].name, b->ep_size, b->attn_dp_size,
               b->devices_total);
    }
    plan_result_free(&r);
    scen_free(&s);
    return 0;
}
