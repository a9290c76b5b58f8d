#include "hardware/cost.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Matmul outputs are written in 16-bit: bf16/fp16 products directly, and
 * INT8/FP8 kernels dequantise their int32/fp32 accumulators on the way out
 * (Ascend QuantBatchMatmul, DeepSeek's fp8_gemm both emit bf16). */
#define OUT_BYTES 2.0

/* Logits and router scores are fp32 (DeepSeek-V3 inference/model.py Gate
 * computes in float32); ids int32 plus weight fp32 per chosen expert. */
#define LOGIT_BYTES 4.0
#define TOPK_ENTRY_BYTES 8.0

static int is_8bit(hw_dtype t) { return t == HW_FP8 || t == HW_INT8; }

static int has_dtype(const hw_device *d, hw_dtype t)
{
    return d->peak_tflops[t] > 0;
}

static int dtype_ok(hw_dtype t)
{
    return (int)t >= 0 && t < HW_DTYPE_COUNT;
}

static int pair_allowed(hw_dtype s, hw_dtype a)
{
    return s == a || (is_8bit(s) && !is_8bit(a));
}

static double to_s(double us) { return us * 1e-6; }

static const char *file_of(const hw_device *d)
{
    return d->path[0] ? d->path : "(device built in code)";
}

/* "bf16, fp16, int8" for the message that says what the device does have. */
static void list_dtypes(const hw_device *d, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t used = 0;
    for (int t = 0; t < HW_DTYPE_COUNT; t++) {
        if (!has_dtype(d, (hw_dtype)t))
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                         hw_dtype_names[t]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static int missing_dtype(const hw_device *d, hw_dtype t, const char *role,
                         err_t *e)
{
    char have[64];
    list_dtypes(d, have, sizeof have);
    return err_set(e, ERR_INPUT,
                   "%s has no %s support (%s not set in %s), needed for %s; "
                   "expected a dtype it has: %s",
                   d->name, hw_dtype_names[t], hw_peak_keys[t], file_of(d),
                   role, have);
}

/* The rule of cost.h, with the roles named in the messages. The device is
 * asked first, so "310P has no bf16" wins over "bf16 and fp16 mixed". */
static int check_pair(const hw_device *d, hw_dtype stored, hw_dtype act,
                      const char *stored_role, const char *act_role, err_t *e)
{
    MOESIM_ASSERT(dtype_ok(stored) && dtype_ok(act));
    if (!has_dtype(d, act))
        return missing_dtype(d, act, act_role, e);
    if (!has_dtype(d, stored))
        return missing_dtype(d, stored, stored_role, e);
    if (!pair_allowed(stored, act)) {
        const char *why =
            is_8bit(act) ? (is_8bit(stored)
                                ? "two different 8-bit formats"
                                : "8-bit activations against 16-bit storage")
                         : "two different 16-bit formats";
        return err_set(e, ERR_INPUT,
                       "%s %s with %s %s is not modelled: %s; expected the "
                       "same dtype for both (bf16, fp16, int8 or fp8) or "
                       "8-bit storage with 16-bit activations (weight-only "
                       "quantisation)",
                       stored_role, hw_dtype_names[stored], act_role,
                       hw_dtype_names[act], why);
    }
    return 0;
}

int cost_dtype_supported(const hw_device *d, hw_dtype stored, hw_dtype act,
                         err_t *e)
{
    return check_pair(d, stored, act, "stored elements",
                      "activations", e);
}

hw_dtype cost_compute_dtype(hw_dtype stored, hw_dtype act)
{
    MOESIM_ASSERT(dtype_ok(stored) && dtype_ok(act) &&
                  pair_allowed(stored, act));
    return act;
}

/* The hidden dtype without the precondition, for cost_prec_check. */
static hw_dtype hidden_of(const hw_device *d, hw_dtype act)
{
    if (!is_8bit(act))
        return act;
    return has_dtype(d, HW_BF16) ? HW_BF16 : HW_FP16;
}

hw_dtype cost_hidden_dtype(const hw_device *d, const cost_prec *p)
{
    MOESIM_ASSERT(dtype_ok(p->act));
    hw_dtype h = hidden_of(d, p->act);
    MOESIM_ASSERT(has_dtype(d, h));
    return h;
}

int cost_prec_check(const hw_device *d, const cost_prec *p, err_t *e)
{
    if (!dtype_ok(p->weight) || !dtype_ok(p->act) || !dtype_ok(p->kv))
        return err_set(e, ERR_INPUT,
                       "dtype out of range (weight %d, act %d, kv %d); "
                       "expected bf16, fp16, fp8 or int8",
                       (int)p->weight, (int)p->act, (int)p->kv);
    int rc = check_pair(d, p->weight, p->act, "weight_dtype",
                        "activation_dtype", e);
    if (rc != 0)
        return rc;
    hw_dtype h = hidden_of(d, p->act);
    if (!has_dtype(d, h))
        return missing_dtype(d, h, "the hidden states between operators", e);
    /* The attention core multiplies the cache against 16-bit queries. */
    return check_pair(d, p->kv, h, "kv_dtype", "hidden states in", e);
}

/* Roofline time without the fixed overhead; eff is the small-matmul factor
 * hw_matmul_eff_factor() gave for the operator's rows (read once per
 * operator: it builds a GSL interpolator on every call). */
static double roof_s(const hw_device *d, hw_dtype c, double flops,
                     double bytes, double eff)
{
    MOESIM_ASSERT(has_dtype(d, c));
    double rate = hw_peak_flops(d, c) * d->compute_efficiency * eff;
    return fmax(flops / rate, bytes / hw_memory_bytes_per_s(d));
}

static void op_add(cost_op *acc, double flops, double bytes, double time_s,
                   int kernels)
{
    acc->flops += flops;
    acc->bytes += bytes;
    acc->time_s += time_s;
    acc->kernels += kernels;
}

static void op_sum(cost_op *acc, const cost_op *x)
{
    op_add(acc, x->flops, x->bytes, x->time_s, x->kernels);
}

static void put(cost_op *out, const cost_op *v)
{
    if (out)
        *out = *v;
}

/* `batch` independent [m x k] * [k x n] products with their own weights,
 * launched as one operator (a batched matmul; batch 1 is a plain matmul).
 * Adds to *acc. */
static void matmul_into(const hw_device *d, hw_dtype w, hw_dtype a,
                        double batch, double m, double k, double n,
                        cost_op *acc)
{
    MOESIM_ASSERT(batch >= 0 && m >= 0 && k >= 0 && n >= 0);
    if (batch == 0 || m == 0 || k == 0 || n == 0)
        return;
    hw_dtype c = cost_compute_dtype(w, a);
    MOESIM_ASSERT(has_dtype(d, w));
    double flops = 2 * batch * m * k * n;
    double bytes = batch * (k * n * hw_dtype_bytes(w) +
                            m * k * hw_dtype_bytes(a) + m * n * OUT_BYTES);
    double t = roof_s(d, c, flops, bytes, hw_matmul_eff_factor(d, m)) +
               to_s(d->matmul_overhead_us);
    op_add(acc, flops, bytes, t, 1);
}

double cost_matmul(const hw_device *d, hw_dtype w, hw_dtype a, long m_tokens,
                   long k, long n, cost_op *out)
{
    MOESIM_ASSERT(m_tokens >= 0 && k > 0 && n > 0);
    cost_op r = {0};
    matmul_into(d, w, a, 1, (double)m_tokens, (double)k, (double)n, &r);
    put(out, &r);
    return r.time_s;
}

static void vector_into(const hw_device *d, double bytes, cost_op *acc)
{
    MOESIM_ASSERT(bytes >= 0);
    if (bytes == 0)
        return;
    op_add(acc, 0, bytes,
           bytes / hw_memory_bytes_per_s(d) + to_s(d->vector_overhead_us), 1);
}

double cost_memory_op(const hw_device *d, double bytes)
{
    cost_op r = {0};
    vector_into(d, bytes, &r);
    return r.time_s;
}

double cost_rmsnorm(const hw_device *d, const cost_prec *p, long tokens,
                    long hidden, cost_op *out)
{
    MOESIM_ASSERT(tokens >= 0 && hidden > 0);
    double hb = hw_dtype_bytes(cost_hidden_dtype(d, p));
    cost_op r = {0};
    vector_into(d, 4.0 * (double)tokens * (double)hidden * hb, &r);
    put(out, &r);
    return r.time_s;
}

double cost_comm_overhead_s(const hw_device *d)
{
    return to_s(d->comm_overhead_us);
}

double cost_backward_s(double forward_s)
{
    return COST_BACKWARD_FACTOR * forward_s;
}

double cost_gate(const hw_device *d, const cost_prec *p, long tokens,
                 long hidden, long experts, long top_k, cost_op *out)
{
    MOESIM_ASSERT(tokens >= 0 && hidden > 0 && experts > 0 && top_k > 0 &&
                  top_k <= experts);
    hw_dtype h = cost_hidden_dtype(d, p);
    double t = (double)tokens;
    cost_op r = {0};
    matmul_into(d, h, h, 1, t, (double)hidden, (double)experts, &r);
    if (tokens > 0)
        vector_into(d, t * (double)experts * LOGIT_BYTES +
                           t * (double)top_k * TOPK_ENTRY_BYTES,
                    &r);
    put(out, &r);
    return r.time_s;
}

double cost_dense_ffn(const hw_device *d, const cost_prec *p, long tokens,
                      long hidden, long ffn, int tp, cost_op *out)
{
    MOESIM_ASSERT(tokens >= 0 && hidden > 0 && ffn > 0 && tp >= 1);
    hw_dtype hd = cost_hidden_dtype(d, p);
    double t = (double)tokens, h = (double)hidden;
    double f = ceil((double)ffn / tp); /* the busiest rank's columns */
    cost_op r = {0};
    if (tokens > 0) {
        matmul_into(d, p->weight, p->act, 1, t, h, 2 * f, &r);
        vector_into(d, 2 * t * f * hw_dtype_bytes(hd) +
                           t * f * hw_dtype_bytes(p->act),
                    &r);
        matmul_into(d, p->weight, p->act, 1, t, f, h, &r);
    }
    put(out, &r);
    return r.time_s;
}

double cost_grouped_experts(const hw_device *d, const cost_prec *p,
                            long hidden, long ffn,
                            const long *tokens_per_expert, int n_experts,
                            cost_op *out)
{
    MOESIM_ASSERT(hidden > 0 && ffn > 0 && n_experts >= 0);
    MOESIM_ASSERT(n_experts == 0 || tokens_per_expert);
    hw_dtype hd = cost_hidden_dtype(d, p);
    hw_dtype c = cost_compute_dtype(p->weight, p->act);
    double h = (double)hidden, f = (double)ffn;
    double wb = hw_dtype_bytes(p->weight), ab = hw_dtype_bytes(p->act);
    cost_op r = {0};
    double total_tokens = 0;
    for (int i = 0; i < n_experts; i++) {
        MOESIM_ASSERT(tokens_per_expert[i] >= 0);
        if (tokens_per_expert[i] == 0)
            continue;
        double t = (double)tokens_per_expert[i];
        total_tokens += t;
        /* gate+up: [t x h] * [h x 2f]; down: [t x f] * [f x h]. */
        double up_flops = 2 * t * h * 2 * f;
        double up_bytes = h * 2 * f * wb + t * h * ab + t * 2 * f * OUT_BYTES;
        double dn_flops = 2 * t * f * h;
        double dn_bytes = f * h * wb + t * f * ab + t * h * OUT_BYTES;
        double eff = hw_matmul_eff_factor(d, t);
        op_add(&r, up_flops + dn_flops, up_bytes + dn_bytes,
               roof_s(d, c, up_flops, up_bytes, eff) +
                   roof_s(d, c, dn_flops, dn_bytes, eff),
               0);
    }
    if (total_tokens > 0) {
        r.time_s += 2 * to_s(d->matmul_overhead_us);
        r.kernels += 2;
        vector_into(d, 2 * total_tokens * f * hw_dtype_bytes(hd) +
                           total_tokens * f * ab,
                    &r);
    }
    put(out, &r);
    return r.time_s;
}

/* --- Attention ------------------------------------------------------- */

static int attn_fail(err_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int attn_fail(err_t *e, const char *fmt, ...)
{
    char body[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return err_set(e, ERR_INPUT, "attention: %s", body);
}

int cost_attn_check(const cost_attn_shape *a, int tp, err_t *e)
{
    if (tp < 1)
        return attn_fail(e, "tensor-parallel degree %d; expected >= 1", tp);
    if (a->hidden <= 0 || a->heads <= 0)
        return attn_fail(e, "hidden %ld, heads %ld; expected both > 0",
                         a->hidden, a->heads);
    if (a->heads % tp != 0)
        return attn_fail(e, "%ld heads do not split over tensor-parallel "
                            "degree %d; expected tp dividing heads",
                         a->heads, tp);
    if (a->kind == COST_ATTN_GQA) {
        if (a->kv_heads <= 0 || a->head_dim <= 0)
            return attn_fail(e, "gqa kv_heads %ld, head_dim %ld; expected "
                                "both > 0",
                             a->kv_heads, a->head_dim);
        if (a->kv_heads % tp != 0 && tp % a->kv_heads != 0)
            return attn_fail(e, "%ld KV heads neither split over nor "
                                "replicate evenly across tensor-parallel "
                                "degree %d; expected one to divide the other",
                             a->kv_heads, tp);
        return 0;
    }
    if (a->kind != COST_ATTN_MLA)
        return attn_fail(e, "unknown kind %d; expected gqa or mla",
                         (int)a->kind);
    if (a->q_lora_rank < 0 || a->kv_lora_rank <= 0 ||
        a->qk_nope_head_dim <= 0 || a->qk_rope_head_dim < 0 ||
        a->v_head_dim <= 0)
        return attn_fail(e, "mla q_lora_rank %ld, kv_lora_rank %ld, "
                            "qk_nope_head_dim %ld, qk_rope_head_dim %ld, "
                            "v_head_dim %ld; expected q_lora_rank and "
                            "qk_rope_head_dim >= 0, the others > 0",
                         a->q_lora_rank, a->kv_lora_rank,
                         a->qk_nope_head_dim, a->qk_rope_head_dim,
                         a->v_head_dim);
    return 0;
}

static long kv_heads_local(const cost_attn_shape *a, int tp)
{
    return a->kv_heads >= tp ? a->kv_heads / tp : 1;
}

double cost_kv_bytes_per_token(const cost_attn_shape *a, hw_dtype kv, int tp)
{
    MOESIM_ASSERT(tp >= 1 && dtype_ok(kv));
    double b = hw_dtype_bytes(kv);
    if (a->kind == COST_ATTN_GQA)
        return 2.0 * (double)kv_heads_local(a, tp) * (double)a->head_dim * b;
    return (double)(a->kv_lora_rank + a->qk_rope_head_dim) * b;
}

/* Inputs shared by both kinds, in doubles. */
typedef struct attn_dims {
    double seqs, q, ctx;
    double tokens; /* seqs q: the rows of every projection */
    double keys;   /* seqs (ctx + q): keys in the cache after this step */
    double pairs;  /* attended (query, key) pairs, causal */
    double heads;  /* local query heads */
    double hb, kvb; /* bytes of the hidden and KV dtypes */
} attn_dims;

/* The fused attention kernel: one operator at the hidden dtype, its rows
 * for the efficiency curve being the queries that share one K/V stream. */
static void core_into(const hw_device *d, hw_dtype hd, double flops,
                      double bytes, double rows, cost_op *acc)
{
    if (flops == 0 && bytes == 0)
        return;
    op_add(acc, flops, bytes,
           roof_s(d, hd, flops, bytes, hw_matmul_eff_factor(d, rows)) +
               to_s(d->matmul_overhead_us),
           1);
}

static void gqa(const hw_device *d, const cost_prec *p,
                const cost_attn_shape *a, const attn_dims *x, hw_dtype hd,
                int tp, cost_attn *r)
{
    double hid = (double)a->hidden, dh = (double)a->head_dim;
    double kvl = (double)kv_heads_local(a, tp);
    /* Fused QKV (vLLM QKVParallelLinear) and the output projection. */
    matmul_into(d, p->weight, p->act, 1, x->tokens, hid,
                (x->heads + 2 * kvl) * dh, &r->proj);
    matmul_into(d, p->weight, p->act, 1, x->tokens, x->heads * dh, hid,
                &r->proj);
    /* RoPE reads and writes q and k; the cache write reads the new k, v in
     * 16-bit and stores them in the KV dtype. */
    vector_into(d, 2 * x->tokens * (x->heads + kvl) * dh * x->hb +
                       x->tokens * 2 * kvl * dh * (x->hb + x->kvb),
                &r->vec);
    /* QK^T and AV: 2 flops per multiply-add, head_dim each, per pair and
     * head. Bytes as FlashAttention at its ideal: Q read and O written once,
     * the cached K and V read once per KV head. */
    double flops = 4 * x->pairs * x->heads * dh;
    double bytes = 2 * x->tokens * x->heads * dh * x->hb +
                   x->keys * 2 * kvl * dh * x->kvb;
    core_into(d, hd, flops, bytes, x->q * (x->heads / kvl), &r->core);
}

static void mla(const hw_device *d, const cost_prec *p,
                const cost_attn_shape *a, const attn_dims *x, hw_dtype hd,
                int absorbed, cost_attn *r)
{
    double hid = (double)a->hidden, nh = x->heads; /* n_h, V2 §2.1 */
    double rq = (double)a->q_lora_rank, rkv = (double)a->kv_lora_rank;
    double dn = (double)a->qk_nope_head_dim, dr = (double)a->qk_rope_head_dim;
    double dv = (double)a->v_head_dim;
    double lat = rkv + dr; /* cached values per token: 576 for DeepSeek */
    double dq = dn + dr;
    hw_dtype w = p->weight, act = p->act;

    /* Down-projections have no heads: every tp rank computes them whole.
     * q_a and kv_a share their input and are fused (vLLM
     * fused_qkv_a_proj). */
    if (rq > 0) {
        matmul_into(d, w, act, 1, x->tokens, hid, rq + lat, &r->proj);
        matmul_into(d, w, act, 1, x->tokens, rq, nh * dq, &r->proj);
    } else {
        matmul_into(d, w, act, 1, x->tokens, hid, lat, &r->proj);
        matmul_into(d, w, act, 1, x->tokens, hid, nh * dq, &r->proj);
    }
    double flops, bytes, rows;
    if (absorbed) {
        /* DeepSeek-V2 §2.1.2 / V3 inference "absorb": W_UK folds into the
         * query (q_nope [dn] -> latent [rkv] per head) and W_UV into the
         * output (latent -> dv per head), both batched per head at the
         * hidden dtype with the weights read in their stored dtype. */
        matmul_into(d, w, hd, nh, x->tokens, dn, rkv, &r->proj);
        matmul_into(d, w, hd, nh, x->tokens, rkv, dv, &r->proj);
        /* Scores over the latent plus rope part (lat = rkv + dr per pair
         * and head), values over the latent (rkv). All heads share the one
         * cached latent: read once, like multi-query attention. */
        flops = 2 * x->pairs * nh * lat + 2 * x->pairs * nh * rkv;
        bytes = x->tokens * nh * lat * x->hb + x->keys * lat * x->kvb +
                x->tokens * nh * rkv * x->hb;
        rows = x->q * nh;
    } else {
        /* Up-project every cached and new latent to per-head k_nope and v
         * (kv_b_proj), then ordinary multi-head attention. */
        matmul_into(d, w, act, 1, x->keys, rkv, nh * (dn + dv), &r->proj);
        flops = 2 * x->pairs * nh * dq + 2 * x->pairs * nh * dv;
        bytes = x->tokens * nh * dq * x->hb + x->keys * nh * (dq + dv) * x->hb +
                x->tokens * nh * dv * x->hb;
        rows = x->q;
    }
    matmul_into(d, w, act, 1, x->tokens, nh * dv, hid, &r->proj);
    /* Latent RMSNorms (read+write the q and kv latents), RoPE on q_pe and
     * the shared k_pe, and the latent cache write. */
    vector_into(d, 2 * x->tokens * (rq + rkv) * x->hb +
                       2 * x->tokens * (nh + 1) * dr * x->hb +
                       x->tokens * lat * (x->hb + x->kvb),
                &r->vec);
    core_into(d, hd, flops, bytes, rows, &r->core);
}

double cost_attention(const hw_device *d, const cost_prec *p,
                      const cost_attn_shape *a, const cost_attn_batch *b,
                      cost_attn *out)
{
    MOESIM_ASSERT(b->sequences >= 0 && b->q_len >= 0 && b->ctx_len >= 0);
    MOESIM_ASSERT(b->tp >= 1 && a->heads % b->tp == 0);
    cost_attn r;
    memset(&r, 0, sizeof r);
    if (b->sequences > 0 && b->q_len > 0) {
        hw_dtype hd = cost_hidden_dtype(d, p);
        attn_dims x;
        x.seqs = (double)b->sequences;
        x.q = (double)b->q_len;
        x.ctx = (double)b->ctx_len;
        x.tokens = x.seqs * x.q;
        x.keys = x.seqs * (x.ctx + x.q);
        x.pairs = x.seqs * (x.q * x.ctx + x.q * (x.q + 1) / 2);
        x.heads = (double)(a->heads / b->tp);
        x.hb = hw_dtype_bytes(hd);
        x.kvb = hw_dtype_bytes(p->kv);
        if (a->kind == COST_ATTN_GQA)
            gqa(d, p, a, &x, hd, b->tp, &r);
        else
            mla(d, p, a, &x, hd, b->mla_absorbed, &r);
        op_sum(&r.total, &r.proj);
        op_sum(&r.total, &r.vec);
        op_sum(&r.total, &r.core);
    }
    if (out)
        *out = r;
    return r.total.time_s;
}
