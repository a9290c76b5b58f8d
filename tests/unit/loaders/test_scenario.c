/* Scenario loading: defaults, inheritance from the model, memory layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scenarios/scen.h"
#include "sim/memory.h"
#include "tests/unit/testutil.h"

static void load(const char *path, scenario *s)
{
    err_t e;
    err_clear(&e);
    int rc = scen_load(path, s, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void test_scen__default_compares_topk_and_moge(void **st)
{
    (void)st;
    scenario s;
    load("scenarios/default.ini", &s);
    assert_string_equal(s.name, "default");
    assert_int_equal(s.phase, SCEN_PREFILL);
    assert_int_equal(scen_tokens_per_device(&s), 2048); /* 1 prompt x 2048 */
    scen_free(&s);
    load("scenarios/pangu-decode-800i.ini", &s);
    assert_string_equal(s.name, "pangu-decode-800i");
    assert_int_equal(s.devices, 8);
    assert_int_equal(s.phase, SCEN_DECODE);
    assert_int_equal(s.n_policies, 2);
    const scen_policy *moge = &s.policies[scen_find_policy(&s, "moge")];
    assert_int_equal(moge->router, SCEN_ROUTER_MOGE);
    assert_int_equal(moge->placement, SCEN_PLACE_GROUPED);
    assert_int_equal(moge->top_k, 8);   /* inherited from the model */
    assert_int_equal(moge->groups, 8);
    assert_int_equal(scen_tokens_per_device(&s), 64);
    assert_non_null(s.text);
    assert_non_null(strstr(s.text, "[policy moge]"));
    scen_free(&s);
}

static void test_mem__pangu_on_800i_a2_by_hand(void **st)
{
    (void)st;
    scenario s;
    load("scenarios/pangu-decode-800i.ini", &s);
    mem_breakdown mb;
    mem_per_device(&s, &s.policies[0], &mb);
    /* 8 of 64 experts per NPU in each of 48 layers, 3*5120*1344 weights of
     * 2 bytes each: 8 * 48 * 20,643,840 * 2 = 15,854,469,120 bytes */
    assert_near(mb.expert_weight_bytes, 15854469120.0, 0.5);
    /* decode KV: 64 sequences * (2048 context + 1 new) tokens * 196,608
     * bytes per token (GQA, tp = 1) */
    assert_near(mb.kv_cache_bytes, 64.0 * 2049 * 196608, 0.5);
    assert_int_equal(mb.attn_tp, 1);
    assert_true(mb.fits);
    scen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scen__default_compares_topk_and_moge),
        cmocka_unit_test(test_mem__pangu_on_800i_a2_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
