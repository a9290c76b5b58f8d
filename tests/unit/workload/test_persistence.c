/*
 * Persistence and drift of the default decode workload under DeepSeek-V3's
 * gate (calibration.md: hot experts stay hot for tens to hundreds of
 * steps). Hot = an expert with at least 3x the mean load. The drift time
 * constant is topic_drift_steps = 300 by default, so 10 steps are 3% of it
 * (the log-weights keep a correlation of exp(-10/300) = 0.97) and 3000 are
 * 10 time constants (exp(-10) = 4.5e-5: an unrelated mixture).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include <gsl/gsl_statistics_double.h>

#include "models/workload.h"
#include "workload_test.h"

enum { N = 256, LAYERS = 16, TOKENS = 2048, VOCAB = 129280, TOPICS = 32 };

static workload *make_decode(unsigned long seed)
{
    workload_params p;
    workload_params_default(&p);
    workload_shape sh = {N, LAYERS, VOCAB, WORKLOAD_DECODE, TOKENS, TOKENS};
    workload *w = NULL;
    err_t e;
    assert_int_equal(workload_create(&p, &sh, seed, &w, &e), 0);
    return w;
}

static size_t rank_of(const double *load, size_t x)
{
    size_t r = 0;
    for (size_t i = 0; i < N; i++)
        r += load[i] > load[x];
    return r;
}

static double load0[LAYERS][N], load10[LAYERS][N], load3000[LAYERS][N];

static void loads_at(workload *w, wl_router *r, long step,
                     double load[LAYERS][N])
{
    err_t e;
    assert_int_equal(workload_step(w, step, &e), 0);
    for (int l = 0; l < LAYERS; l++)
        wl_layer_loads(w, r, l, load[l]);
}

/* The top expert of every hot layer at step s is still among the top 5 at
 * step s + 10, in at least 90% of (seed, layer) cases. */
static void test_workload__hot_experts_persist_over_10_steps(void **state)
{
    (void)state;
    wl_router r;
    wl_router_init(&r, N, TOKENS);
    const double mean = (double)TOKENS * 8 / N;
    int hot = 0, kept = 0;
    for (unsigned long seed = 1; seed <= 3; seed++) {
        workload *w = make_decode(seed);
        loads_at(w, &r, 20, load0);
        loads_at(w, &r, 30, load10);
        for (int l = 0; l < LAYERS; l++) {
            size_t top = gsl_stats_max_index(load0[l], 1, N);
            if (load0[l][top] < 3 * mean)
                continue;
            hot++;
            kept += rank_of(load10[l], top) < 5;
        }
        workload_destroy(w);
    }
    printf("persistence: %d of %d hot layers keep their top expert in the "
           "top 5 after 10 steps\n",
           kept, hot);
    assert_true(hot >= LAYERS); /* most layers have a hot expert */
    assert_true(kept >= 0.9 * hot);
    wl_router_fini(&r);
}

/* Over 10 drift time constants the load ranking changes: the correlation
 * of per-expert loads with step 0 is lower at step 3000 than at step 10,
 * and the topic mixture itself has decorrelated. */
static void test_workload__ranking_drifts_over_long_horizons(void **state)
{
    (void)state;
    wl_router r;
    wl_router_init(&r, N, TOKENS);
    double work[2 * N];
    for (unsigned long seed = 1; seed <= 3; seed++) {
        workload *w = make_decode(seed);
        double logw0[TOPICS], logw10[TOPICS], logw3000[TOPICS];

        loads_at(w, &r, 0, load0);
        for (int k = 0; k < TOPICS; k++)
            logw0[k] = log(workload_topic_weights(w)[k]);
        loads_at(w, &r, 10, load10);
        for (int k = 0; k < TOPICS; k++)
            logw10[k] = log(workload_topic_weights(w)[k]);
        loads_at(w, &r, 3000, load3000);
        for (int k = 0; k < TOPICS; k++)
            logw3000[k] = log(workload_topic_weights(w)[k]);

        double near = 0, far = 0;
        int moved_near = 0, moved = 0;
        for (int l = 0; l < LAYERS; l++) {
            near += gsl_stats_spearman(load0[l], 1, load10[l], 1, N, work) /
                    LAYERS;
            far += gsl_stats_spearman(load0[l], 1, load3000[l], 1, N, work) /
                   LAYERS;
            size_t top = gsl_stats_max_index(load0[l], 1, N);
            moved_near += rank_of(load10[l], top) != 0;
            moved += rank_of(load3000[l], top) != 0;
        }
        double mix_near = gsl_stats_correlation(logw0, 1, logw10, 1, TOPICS);
        double mix_far = gsl_stats_correlation(logw0, 1, logw3000, 1, TOPICS);
        printf("drift seed %lu: load rank correlation with step 0: %.3f at "
               "step 10, %.3f at step 3000; layers whose top expert changed: "
               "%d at step 10, %d at step 3000 (of %d); topic log-weight "
               "correlation %.3f, %.3f\n",
               seed, near, far, moved_near, moved, LAYERS, mix_near, mix_far);
        assert_true(far < near - 0.01);
        assert_true(moved > moved_near);
        assert_true(mix_near > 0.9);
        assert_true(fabs(mix_far) < 0.6);
        workload_destroy(w);
    }
    wl_router_fini(&r);
}

/* Training draws iid batches from a shuffled corpus: its mixture never
 * drifts, while prefill's and decode's do. */
static void test_workload__train_mixture_is_stationary(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    err_t e;
    for (int ph = 0; ph < WORKLOAD_PHASE_COUNT; ph++) {
        workload_shape sh = {N, 1, VOCAB, (workload_phase)ph, 64, 8};
        workload *w = NULL;
        assert_int_equal(workload_create(&p, &sh, 3, &w, &e), 0);
        double first[TOPICS];
        assert_int_equal(workload_step(w, 0, &e), 0);
        for (int k = 0; k < TOPICS; k++)
            first[k] = workload_topic_weights(w)[k];
        assert_int_equal(workload_step(w, 100, &e), 0);
        int same = 1;
        for (int k = 0; k < TOPICS; k++)
            same &= first[k] == workload_topic_weights(w)[k];
        assert_int_equal(same, ph == WORKLOAD_TRAIN);
        workload_destroy(w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload__hot_experts_persist_over_10_steps),
        cmocka_unit_test(test_workload__ranking_drifts_over_long_horizons),
        cmocka_unit_test(test_workload__train_mixture_is_stationary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
