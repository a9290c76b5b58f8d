/*
 * The replay: the point of the tool (MoGE never waits at the MoE barrier,
 * top-k waits by an amount its device loads dictate), its invariants, and
 * determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hardware/hw.h"
#include "models/placement.h"
#include "scenarios/scen.h"
#include "sim/replay.h"
#include "sim/run.h"
#include "tests/unit/testutil.h"

#define MAX_ROWS 4096

typedef struct mem_sink {
    metrics_layer layers[MAX_ROWS];
    int n_layers;
    metrics_step steps[64];
    int n_steps;
    long n_devices, n_experts, n_links;
    double link_bytes;
} mem_sink;

static int on_layer(void *ctx, const metrics_layer *row)
{
    mem_sink *m = ctx;
    if (m->n_layers < MAX_ROWS)
        m->layers[m->n_layers++] = *row;
    return 0;
}
static int on_step(void *ctx, const metrics_step *row)
{
    mem_sink *m = ctx;
    if (m->n_steps < 64)
        m->steps[m->n_steps++] = *row;
    return 0;
}
static int on_device(void *ctx, const metrics_device *row)
{
    (void)row;
    ((mem_sink *)ctx)->n_devices++;
    return 0;
}
static int on_expert(void *ctx, const metrics_expert *row)
{
    (void)row;
    ((mem_sink *)ctx)->n_experts++;
    return 0;
}
static int on_link(void *ctx, const metrics_link *row)
{
    mem_sink *m = ctx;
    m->n_links++;
    m->link_bytes += row->bytes;
    return 0;
}

static metrics_sink sink_of(mem_sink *m)
{
    metrics_sink s = {m, on_layer, on_device, on_step, on_expert, on_link,
                      NULL};
    return s;
}

static void load(const char *path, scenario *s)
{
    err_t e;
    err_clear(&e);
    int rc = scen_load(path, s, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Pangu Pro MoE prefill on one Atlas 800I A2, made purely compute-bound:
 * no small-matmul curve and free memory, so an expert's time is exactly
 * linear in its tokens. Then a device's expert time is
 *   c * T_d + (fixed overheads, equal on every busy device),
 *   c = 2 FLOP * 3 matrices * hidden * expert_ffn / (peak_bf16 * eff),
 * and the mean idle at the barrier is (max_d T_d - mean_d T_d) * c. */
static void test_replay__moge_never_idles_topk_idles_by_its_loads(void **st)
{
    (void)st;
    static scenario s;
    load("scenarios/default.ini", &s);
    s.phase = SCEN_PREFILL;
    s.sequences_per_device = 2;
    s.seq_len = 4096;
    s.context_len = 0;
    s.steps = 2;
    s.model.layers = 6; /* fewer layers keep the test fast; math per layer */
    s.node.device.n_eff_points = 0;
    /* An expert with fewer tokens than the ridge point is bound by reading
     * its weights, which makes time non-linear in tokens: MoGE, balanced
     * per device but not per expert, would then idle a little (a real
     * effect, measured in the shipped scenarios). To isolate device load,
     * memory is made effectively free here. */
    s.node.device.memory_gbps = 1e12;
    const hw_device *d = &s.node.device;
    double c = 2.0 * 3 * s.model.hidden * s.model.expert_ffn /
               (d->peak_tflops[HW_BF16] * 1e12 * d->compute_efficiency);

    static mem_sink topk, moge;
    memset(&topk, 0, sizeof topk);
    memset(&moge, 0, sizeof moge);
    metrics_sink sk = sink_of(&topk), sm = sink_of(&moge);
    err_t e;
    err_clear(&e);
    int it = scen_find_policy(&s, "topk"), im = scen_find_policy(&s, "moge");
    int rc = run_policy(&s, it, 7, &sk, NULL, NULL, &e);
    if (rc == 0)
        rc = run_policy(&s, im, 7, &sm, NULL, NULL, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(topk.n_layers, 2 * 6);

    double topk_idle = 0;
    for (int i = 0; i < moge.n_layers; i++) {
        const metrics_layer *l = &moge.layers[i];
        /* Device loads are equal exactly. Expert time is linear in tokens
         * here, so the idle is zero but for the rounding of per-expert
         * sums taken in different orders on different devices (~1e-18 s). */
        double tol = 1e-12 * l->expert_compute_max_s;
        if (l->imbalance_score != 0 || l->idle_mean_s > tol)
            fprintf(stderr, "moge layer %d: IS %g idle %g s\n", l->layer,
                    l->imbalance_score, l->idle_mean_s);
        assert_true(l->imbalance_score == 0.0);
        assert_true(l->device_max_over_mean == 1.0);
        assert_true(l->idle_mean_s <= tol);
    }
    for (int i = 0; i < topk.n_layers; i++) {
        const metrics_layer *l = &topk.layers[i];
        double mean = (double)l->token_experts / 8;
        double tmax = l->device_max_over_mean * mean;
        double want = (tmax - mean) * c;
        assert_true(l->idle_mean_s > 0);
        assert_near(l->idle_mean_s, want, 1e-9 * want + 1e-12);
        topk_idle += l->idle_mean_s;
    }
    assert_true(topk_idle > 0);
    /* and the step is slower by at least the critical-path idle */
    assert_true(topk.steps[0].idle_s > 1e6 * moge.steps[0].idle_s);
    scen_free(&s);
}

/* Hand-made tokens through the replay alone: 8 NPUs, experts contiguous
 * (8 per NPU). Token t of 16 comes from NPU t / 2 and goes to experts
 * {0, 9}: expert 0 on NPU 0, expert 9 on NPU 1. */
static void test_replay__hand_tokens_conserve_tokens_and_bytes(void **st)
{
    (void)st;
    static scenario s;
    load("scenarios/pangu-decode-800i.ini", &s);
    s.sequences_per_device = 2; /* 16 tokens in the group */
    replay *r = NULL;
    placement_t *pl = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(replay_create(&s, &s.policies[0], &r, &e), 0);
    assert_int_equal(placement_create_contiguous(&pl, 48, 64, 8, 8, &e), 0);
    uint16_t src[16];
    int32_t offs[17], ex[32];
    for (int t = 0; t < 16; t++) {
        src[t] = (uint16_t)(t / 2);
        offs[t] = 2 * t;
        ex[2 * t] = 0;
        ex[2 * t + 1] = 9;
    }
    offs[16] = 32;
    replay_tokens in = {16, src, offs, ex, NULL};
    static mem_sink m;
    memset(&m, 0, sizeof m);
    metrics_sink sk = sink_of(&m);
    assert_int_equal(replay_step_begin(r, 0, &e), 0);
    for (int l = 0; l < 48; l++)
        assert_int_equal(replay_moe_layer(r, l, &in, pl, &e), 0);
    metrics_step step;
    assert_int_equal(replay_step_end(r, &sk, &step, &e), 0);
    const metrics_layer *row = &m.layers[0];
    /* computed = dispatched: 32 token-experts, 16 on NPU 0, 16 on NPU 1 */
    assert_int_equal(row->token_experts, 32);
    /* IS = (16 - 0) / 16 tokens = 1 */
    assert_near(row->imbalance_score, 1.0, 1e-12);
    assert_near(row->device_max_over_mean, 16.0 / (32.0 / 8), 1e-12);
    /* remote copies: to NPU 0 from the 14 tokens not on NPU 0, to NPU 1
     * from the 14 not on NPU 1 = 28 copies of 5120 bf16 values, dispatched
     * and combined back: 2 * 28 * 10240 bytes, all inside the node */
    assert_near(row->bytes_intra_node, 2.0 * 28 * 10240, 0.5);
    assert_near(row->bytes_inter_node, 0, 0);
    assert_true(step.step_s > 0);
    assert_true(replay_events(r) > 0);
    placement_destroy(pl);
    replay_destroy(r);
    scen_free(&s);
}

static void test_replay__same_seed_same_rows(void **st)
{
    (void)st;
    static scenario s;
    load("scenarios/pangu-decode-800i.ini", &s);
    s.steps = 2;
    static mem_sink a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    metrics_sink sa = sink_of(&a), sb = sink_of(&b);
    err_t e;
    metrics_summary ma, mb;
    assert_int_equal(run_policy(&s, 0, 3, &sa, NULL, &ma, &e), 0);
    assert_int_equal(run_policy(&s, 0, 3, &sb, NULL, &mb, &e), 0);
    assert_int_equal(a.n_layers, b.n_layers);
    assert_memory_equal(a.layers, b.layers,
                        (size_t)a.n_layers * sizeof a.layers[0]);
    assert_memory_equal(&ma, &mb, sizeof ma);
    /* a different seed routes differently */
    static mem_sink c;
    memset(&c, 0, sizeof c);
    metrics_sink sc = sink_of(&c);
    assert_int_equal(run_policy(&s, 0, 4, &sc, NULL, NULL, &e), 0);
    assert_true(memcmp(a.layers, c.layers,
                       (size_t)a.n_layers * sizeof a.layers[0]) != 0);
    /* every device and every expert reported; links carried bytes */
    assert_int_equal(a.n_devices, 2 * 8);
    assert_int_equal(a.n_experts, 48 * 64);
    assert_true(a.n_links > 0 && a.link_bytes > 0);
    scen_free(&s);
}

/* Qwen3-235B-A22B decode at EP64 on 8 HGX H100 nodes spends about half
 * its step in all-to-all over InfiniBand. Two micro-batches overlap one's
 * all-to-all with the other's compute: the step gets shorter, yet never
 * shorter than the compute and barrier idle on the critical path. */
static void test_replay__two_micro_batches_hide_all_to_all(void **st)
{
    (void)st;
    static scenario s;
    load("scenarios/qwen3-235b-hgx-h100.ini", &s);
    s.steps = 2;
    err_t e;
    err_clear(&e);
    metrics_summary one, two;
    static mem_sink m1, m2;
    memset(&m1, 0, sizeof m1);
    memset(&m2, 0, sizeof m2);
    metrics_sink k1 = sink_of(&m1), k2 = sink_of(&m2);
    assert_int_equal(run_policy(&s, 0, 1, &k1, NULL, &one, &e), 0);
    s.micro_batches = 2;
    int rc = run_policy(&s, 0, 1, &k2, NULL, &two, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    fprintf(stderr, "step %.3f ms with one micro-batch, %.3f ms with two; "
                    "a2a share %.3f -> %.3f\n",
            one.step_s * 1e3, two.step_s * 1e3, one.a2a_share,
            two.a2a_share);
    assert_true(one.a2a_share > 0.3);
    assert_true(two.step_s < one.step_s);
    for (int i = 0; i < m2.n_steps; i++) {
        const metrics_step *x = &m2.steps[i];
        assert_true(x->step_s >= x->compute_s - 1e-12);
    }
    scen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay__moge_never_idles_topk_idles_by_its_loads),
        cmocka_unit_test(test_replay__hand_tokens_conserve_tokens_and_bytes),
        cmocka_unit_test(test_replay__same_seed_same_rows),
        cmocka_unit_test(test_replay__two_micro_batches_hide_all_to_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
