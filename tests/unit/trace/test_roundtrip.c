/*
 * trace writer + reader: what is written is read back, id by id and mark by
 * mark; the same input gives the same bytes; the size is what the format
 * table says; an unfinished write leaves no file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/trace.h"
#include "trace_test_util.h"

/* ---- the fixed-k trace ------------------------------------------------ */

enum { FX_LAYERS = 3, FX_EXPERTS = 16, FX_DEVICES = 4, FX_STEPS = 3 };
static const uint32_t fx_tokens[FX_STEPS] = {5, 1, 7};
static const uint32_t fx_k[FX_LAYERS] = {4, 2, 4};

static uint16_t fx_src(uint32_t s, uint32_t t)
{
    return (uint16_t)((t * 3u + s) % FX_DEVICES);
}

static uint16_t fx_id(uint32_t s, uint32_t l, uint32_t t, uint32_t j)
{
    uint32_t x = (s * 31u + t * 7u + l * 3u + j * 5u) % FX_EXPERTS;
    if ((t + j + l) % 5u == 0)
        x |= TRACE_DROPPED;
    return (uint16_t)x;
}

static int write_fixed(const char *path, err_t *e)
{
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    uint16_t src[8], ids[8 * 4];
    int rc = placement_create_contiguous(&pl, FX_LAYERS, FX_EXPERTS,
                                         FX_DEVICES, 2, e);
    if (rc < 0)
        return rc;
    trace_meta_t meta = {"test-model", "topk", "softmax-topk", NULL, 42, 4, 0};
    rc = trace_writer_create(&w, path, &meta, pl, e);
    for (uint32_t s = 0; rc == 0 && s < FX_STEPS; s++) {
        uint32_t T = fx_tokens[s];
        for (uint32_t t = 0; t < T; t++)
            src[t] = fx_src(s, t);
        rc = trace_writer_step(w, T, src, e);
        for (uint32_t l = 0; rc == 0 && l < FX_LAYERS; l++) {
            for (uint32_t t = 0; t < T; t++)
                for (uint32_t j = 0; j < fx_k[l]; j++)
                    ids[t * fx_k[l] + j] = fx_id(s, l, t, j);
            trace_layer_t layer = {T, fx_k[l], T * fx_k[l], ids, NULL};
            rc = trace_writer_layer(w, &layer, e);
        }
    }
    if (rc == 0)
        rc = trace_writer_finish(w, e);
    trace_writer_destroy(w);
    placement_destroy(pl);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    return scratch_make();
}

static int teardown(void **state)
{
    (void)state;
    scratch_remove();
    return 0;
}

static void test_roundtrip__fixed_every_id_and_mark(void **state)
{
    (void)state;
    char path[128];
    scratch_path(path, sizeof path, "fixed.moetrace");
    err_t e;
    err_clear(&e);
    int rc = write_fixed(path, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);

    trace_reader_t *r = NULL;
    rc = trace_reader_open(&r, path, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    const trace_info_t *in = trace_reader_info(r);
    assert_int_equal(in->version_major, 1);
    assert_int_equal(in->version_minor, 0);
    assert_string_equal(in->model, "test-model");
    assert_string_equal(in->policy, "topk");
    assert_string_equal(in->router, "softmax-topk");
    assert_string_equal(in->placement, "contiguous");
    assert_true(in->seed == 42);
    assert_int_equal(in->moe_layers, FX_LAYERS);
    assert_int_equal(in->experts, FX_EXPERTS);
    assert_int_equal(in->devices, FX_DEVICES);
    assert_int_equal(in->devices_per_node, 2);
    assert_int_equal(in->top_k_max, 4);
    assert_int_equal(in->slots, FX_EXPERTS);
    assert_int_equal(in->flags, 0);
    assert_int_equal(in->steps, 3);
    assert_int_equal(in->tokens, 13);
    assert_int_equal(in->entries, 13 * (4 + 2 + 4));

    /* The placement comes back: expert x on device x / 4. */
    const placement_t *pl = trace_reader_placement(r);
    for (uint32_t l = 0; l < FX_LAYERS; l++)
        for (uint32_t q = 0; q < FX_EXPERTS; q++) {
            assert_int_equal(placement_slot_expert(pl, l, q), q);
            assert_int_equal(placement_slot_device(pl, l, q), q / 4u);
        }

    for (int pass = 0; pass < 2; pass++) {
        uint32_t T;
        const uint16_t *src;
        for (uint32_t s = 0; s < FX_STEPS; s++) {
            rc = trace_reader_next(r, &T, &src, &e);
            if (rc != 1)
                print_message("step %u: rc %d %s\n", s, rc, e.msg);
            assert_int_equal(rc, 1);
            assert_int_equal(T, fx_tokens[s]);
            for (uint32_t t = 0; t < T; t++)
                assert_int_equal(src[t], fx_src(s, t));
            for (uint32_t l = 0; l < FX_LAYERS; l++) {
                const trace_layer_t *ly = trace_reader_layer(r, l);
                assert_int_equal(ly->tokens, T);
                assert_int_equal(ly->k, fx_k[l]);
                assert_null(ly->offsets);
                for (uint32_t t = 0; t < T; t++) {
                    uint32_t first, count;
                    trace_layer_token(ly, t, &first, &count);
                    assert_int_equal(count, fx_k[l]);
                    for (uint32_t j = 0; j < count; j++)
                        assert_int_equal(ly->ids[first + j],
                                         fx_id(s, l, t, j));
                }
            }
        }
        assert_int_equal(trace_reader_next(r, &T, &src, &e), 0);
        assert_int_equal(trace_reader_rewind(r, &e), 0);
    }
    trace_reader_destroy(r);
    trace_reader_destroy(NULL);
}

/* Size from the layout table, by hand: header 320 + 4*L*S = 320 + 4*3*16
 * = 512; step blocks 3*24 + 2*13 = 98; layer blocks 9*32 = 288 plus
 * 2 bytes x 130 entries = 260; trailer 48. Total 1206. So bytes <=
 * 2 x token-experts + header + 24/step + 2/token + 32/layer block + 48. */
static void test_roundtrip__size_is_two_bytes_per_token_expert(void **state)
{
    (void)state;
    char path[128];
    scratch_path(path, sizeof path, "size.moetrace");
    err_t e;
    assert_int_equal(write_fixed(path, &e), 0);
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    assert_non_null(b);
    free(b);
    uint64_t entries = 130, tokens = 13, steps = 3, blocks = 9;
    uint64_t bound = 2 * entries + (320 + 4 * 3 * 16) + 24 * steps +
                     2 * tokens + 32 * blocks + 48;
    print_message("trace of %llu token-experts: %zu bytes, bound %llu\n",
                  (unsigned long long)entries, n, (unsigned long long)bound);
    assert_int_equal(n, 1206);
    assert_true(n <= bound);
}

static void test_roundtrip__same_input_same_bytes(void **state)
{
    (void)state;
    char a[128], b[128];
    scratch_path(a, sizeof a, "a.moetrace");
    scratch_path(b, sizeof b, "b.moetrace");
    err_t e;
    assert_int_equal(write_fixed(a, &e), 0);
    assert_int_equal(write_fixed(b, &e), 0);
    size_t na = 0, nb = 0;
    uint8_t *ba = slurp(a, &na), *bb = slurp(b, &nb);
    assert_non_null(ba);
    assert_non_null(bb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    free(ba);
    free(bb);
}

/* A DeepSeek-V3-shaped trace: 58 MoE layers, 256 experts in 288 EPLB slots
 * on 32 devices (4 nodes of 8), top-8, 2 steps of 4096 tokens. By the
 * layout table: header 320 + 4*58*288 = 67136; per step 24 + 2*4096 =
 * 8216 and 58 layer blocks of 32 + 2*4096*8 = 65568; trailer 48:
 * 67136 + 2*(8216 + 58*65568) + 48 = 7689504 bytes for 3801088
 * token-experts. */
static void test_roundtrip__deepseek_v3_shape_size(void **state)
{
    (void)state;
    enum { L = 58, N = 256, S = 288, D = 32, K = 8, T = 4096 };
    char path[128];
    scratch_path(path, sizeof path, "dsv3.moetrace");
    static double load[L * N];
    for (int i = 0; i < L * N; i++)
        load[i] = (double)(1 + (i * 37) % 101);
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(placement_create_eplb(&pl, load, L, N, S, 8, 4, D, &e),
                     0);
    trace_meta_t meta = {"deepseek-v3", "eplb", "noaux_tc", NULL, 3, K, 0};
    assert_int_equal(trace_writer_create(&w, path, &meta, pl, &e), 0);
    static uint16_t src[T], ids[T * K];
    for (uint32_t t = 0; t < T; t++)
        src[t] = (uint16_t)(t * D / T);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(trace_writer_step(w, T, src, &e), 0);
        for (uint32_t l = 0; l < L; l++) {
            for (uint32_t i = 0; i < T * K; i++)
                ids[i] = (uint16_t)((i * 2654435761u + l) % N);
            trace_layer_t ly = {T, K, T * K, ids, NULL};
            assert_int_equal(trace_writer_layer(w, &ly, &e), 0);
        }
    }
    assert_int_equal(trace_writer_finish(w, &e), 0);
    trace_writer_destroy(w);
    placement_destroy(pl);

    size_t n = 0;
    free(slurp(path, &n));
    uint64_t entries = 2ull * T * K * L;
    uint64_t overhead = (320 + 4ull * L * S) + 2 * (24 + 2ull * T) +
                        2ull * L * 32 + 48;
    print_message("DeepSeek-V3 shape: %zu bytes for %llu token-experts = "
                  "%.4f bytes each (%.4f without the header)\n",
                  n, (unsigned long long)entries, (double)n / (double)entries,
                  (double)(n - (320 + 4ull * L * S)) / (double)entries);
    assert_int_equal(n, 7689504);
    assert_true(n <= 2 * entries + overhead);

    trace_reader_t *r = NULL;
    assert_int_equal(trace_reader_open(&r, path, &e), 0);
    assert_true(trace_reader_info(r)->entries == entries);
    trace_reader_destroy(r);
}

/* An EPLB placement survives the trace: slot maps, replica counts, and
 * every replica pick a replay makes equal the in-process ones (the trace
 * keeps slot tables, not EPLB's replica ranks; picks use slot order). */
static void test_roundtrip__eplb_placement_picks_survive(void **state)
{
    (void)state;
    static const double load[2 * 12] = {
        90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86,
        20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27};
    char path[128];
    scratch_path(path, sizeof path, "eplb.moetrace");
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    trace_reader_t *r = NULL;
    err_t e;
    assert_int_equal(placement_create_eplb(&pl, load, 2, 12, 16, 4, 2, 8, &e),
                     0);
    trace_meta_t meta = {0};
    meta.top_k_max = 1;
    assert_int_equal(trace_writer_create(&w, path, &meta, pl, &e), 0);
    assert_int_equal(trace_writer_finish(w, &e), 0);
    trace_writer_destroy(w);
    assert_int_equal(trace_reader_open(&r, path, &e), 0);
    assert_string_equal(trace_reader_info(r)->placement, "eplb");
    assert_int_equal(trace_reader_info(r)->steps, 0);
    const placement_t *back = trace_reader_placement(r);
    assert_int_equal(placement_nodes(back), 2);
    for (uint32_t l = 0; l < 2; l++) {
        for (uint32_t q = 0; q < 16; q++) {
            assert_int_equal(placement_slot_expert(back, l, q),
                             placement_slot_expert(pl, l, q));
            assert_int_equal(placement_slot_device(back, l, q),
                             placement_slot_device(pl, l, q));
        }
        for (uint32_t x = 0; x < 12; x++) {
            assert_int_equal(placement_replicas(back, l, x),
                             placement_replicas(pl, l, x));
            for (uint32_t d = 0; d < 8; d++)
                for (uint64_t t = 0; t < 5; t++)
                    assert_int_equal(placement_pick_slot(back, l, x, t, d),
                                     placement_pick_slot(pl, l, x, t, d));
        }
    }
    trace_reader_destroy(r);
    placement_destroy(pl);
}

/* Variable-count blocks (expert choice): counts 0, 3, 200, 1, 0, 130 take
 * LEB128 bytes 1+1+2+1+1+2 = 8; a token may get 0 experts or many. */
static void test_roundtrip__variable_counts(void **state)
{
    (void)state;
    enum { N = 256, T = 6 };
    static const uint32_t counts[T] = {0, 3, 200, 1, 0, 130};
    uint32_t off[T + 1] = {0};
    for (int t = 0; t < T; t++)
        off[t + 1] = off[t] + counts[t];
    uint16_t ids[334], fixed_ids[T], src[T] = {0, 1, 0, 1, 1, 0};
    for (uint32_t t = 0; t < T; t++) {
        fixed_ids[t] = (uint16_t)(t * 40u);
        for (uint32_t j = 0; j < counts[t]; j++)
            ids[off[t] + j] = (uint16_t)((j * 7u + t) % N |
                                         (j == 1 ? TRACE_DROPPED : 0u));
    }
    assert_int_equal(off[T], 334);
    char path[128];
    scratch_path(path, sizeof path, "var.moetrace");
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(placement_create_contiguous(&pl, 2, N, 2, 1, &e), 0);
    trace_meta_t meta = {"m", "expert-choice", "ec", NULL, 7, 1,
                         TRACE_FLAG_VARIABLE};
    assert_int_equal(trace_writer_create(&w, path, &meta, pl, &e), 0);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(trace_writer_step(w, T, src, &e), 0);
        trace_layer_t l0 = {T, 1, T, fixed_ids, NULL};
        trace_layer_t l1 = {T, 0, 334, ids, off};
        assert_int_equal(trace_writer_layer(w, &l0, &e), 0);
        int rc = trace_writer_layer(w, &l1, &e);
        if (rc)
            print_message("%s\n", e.msg);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(trace_writer_finish(w, &e), 0);
    trace_writer_destroy(w);
    placement_destroy(pl);

    /* header 320 + 4*2*256 = 2368; per step 24 + 12 + (32 + 12) +
     * (32 + 8 + 668) = 788; two steps 1576; trailer 48. */
    size_t n = 0;
    free(slurp(path, &n));
    assert_int_equal(n, 2368 + 1576 + 48);

    trace_reader_t *r = NULL;
    int rc = trace_reader_open(&r, path, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(trace_reader_info(r)->entries, 2 * (6 + 334));
    uint32_t TT;
    const uint16_t *s_src;
    for (int s = 0; s < 2; s++) {
        assert_int_equal(trace_reader_next(r, &TT, &s_src, &e), 1);
        assert_int_equal(TT, T);
        const trace_layer_t *v = trace_reader_layer(r, 1);
        assert_non_null(v->offsets);
        assert_int_equal(v->k, 0);
        for (uint32_t t = 0; t < T; t++) {
            uint32_t first, count;
            trace_layer_token(v, t, &first, &count);
            assert_int_equal(count, counts[t]);
            for (uint32_t j = 0; j < count; j++)
                assert_int_equal(v->ids[first + j], ids[off[t] + j]);
        }
        const trace_layer_t *f = trace_reader_layer(r, 0);
        assert_int_equal(f->k, 1);
        assert_memory_equal(f->ids, fixed_ids, sizeof fixed_ids);
    }
    trace_reader_destroy(r);
}

/* Destroying a writer before finish leaves neither the file nor its
 * temporary. */
static void test_roundtrip__unfinished_write_leaves_nothing(void **state)
{
    (void)state;
    char path[128];
    scratch_path(path, sizeof path, "unfinished.moetrace");
    int before = scratch_count();
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    err_t e;
    assert_int_equal(placement_create_contiguous(&pl, 1, 4, 2, 2, &e), 0);
    trace_meta_t meta = {0};
    meta.top_k_max = 1;
    assert_int_equal(trace_writer_create(&w, path, &meta, pl, &e), 0);
    uint16_t src[2] = {0, 1}, ids[2] = {1, 2};
    assert_int_equal(trace_writer_step(w, 2, src, &e), 0);
    assert_int_equal(scratch_count(), before + 1); /* the temporary */
    assert_int_equal(access(path, F_OK), -1);
    trace_layer_t l = {2, 1, 2, ids, NULL};
    assert_int_equal(trace_writer_layer(w, &l, &e), 0);
    trace_writer_destroy(w);
    assert_int_equal(scratch_count(), before);
    placement_destroy(pl);
    trace_writer_destroy(NULL);
}

/* Misuse of the writer: ERR_INPUT with a message. */
static void test_roundtrip__writer_rejects_bad_calls(void **state)
{
    (void)state;
    char path[128];
    scratch_path(path, sizeof path, "bad.moetrace");
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    err_t e;
    assert_int_equal(placement_create_contiguous(&pl, 2, 4, 2, 2, &e), 0);
    trace_meta_t meta = {0};
    meta.top_k_max = 2;
    assert_int_equal(trace_writer_create(&w, path, &meta, pl, &e), 0);
    uint16_t src[2] = {0, 2}, ids[4] = {1, 2, 3, 4};
    assert_int_equal(trace_writer_step(w, 2, src, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "source device 2 >= devices (2)"));
    src[1] = 1;
    assert_int_equal(trace_writer_step(w, 2, src, &e), 0);
    trace_layer_t l = {2, 2, 4, ids, NULL};
    assert_int_equal(trace_writer_layer(w, &l, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "expert 4 >= experts (4)"));
    ids[3] = 0;
    l.k = 3;
    assert_int_equal(trace_writer_layer(w, &l, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "k (3) must be 1..top_k_max (2)"));
    l.k = 2;
    assert_int_equal(trace_writer_layer(w, &l, &e), 0);
    assert_int_equal(trace_writer_finish(w, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "step 0 has 1 of 2 layers"));
    uint32_t off[3] = {0, 1, 4};
    trace_layer_t v = {2, 0, 4, ids, off};
    assert_int_equal(trace_writer_layer(w, &v, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "TRACE_FLAG_VARIABLE"));
    trace_writer_destroy(w);
    assert_int_equal(access(path, F_OK), -1);
    placement_destroy(pl);
}

/* FNV-1a 64 test vectors from the FNV reference (Noll's test suite). */
static void test_roundtrip__fnv1a64_reference_vectors(void **state)
{
    (void)state;
    assert_true(trace_fnv1a64(TRACE_FNV1A64_INIT, "", 0) ==
                0xcbf29ce484222325ull);
    assert_true(trace_fnv1a64(TRACE_FNV1A64_INIT, "a", 1) ==
                0xaf63dc4c8601ec8cull);
    assert_true(trace_fnv1a64(TRACE_FNV1A64_INIT, "foobar", 6) ==
                0x85944171f73967e8ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip__fixed_every_id_and_mark),
        cmocka_unit_test(test_roundtrip__size_is_two_bytes_per_token_expert),
        cmocka_unit_test(test_roundtrip__same_input_same_bytes),
        cmocka_unit_test(test_roundtrip__deepseek_v3_shape_size),
        cmocka_unit_test(test_roundtrip__eplb_placement_picks_survive),
        cmocka_unit_test(test_roundtrip__variable_counts),
        cmocka_unit_test(test_roundtrip__unfinished_write_leaves_nothing),
        cmocka_unit_test(test_roundtrip__writer_rejects_bad_calls),
        cmocka_unit_test(test_roundtrip__fnv1a64_reference_vectors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
