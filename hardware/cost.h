/*
 * cost: roofline time of the operators of an MoE transformer layer on one
 * device, from FLOPs and bytes per dtype.
 *
 * Every operator's time is
 *
 *     t = max(flops / (peak[c] * compute_efficiency * eff(rows)),
 *             bytes / (memory_gbps * 1e9 * memory_efficiency))
 *         + fixed overhead per operator
 *
 * (Williams, Waterman, Patterson, "Roofline", CACM 2009; the efficiencies,
 * overheads and the small-matmul curve eff() come from the device file, in
 * the manner of Huawei msmodeling). c is the compute dtype chosen by the
 * dtype rule below. hardware/COST_MODEL.md states every formula.
 *
 * hardware/ does not know models/: layer shapes arrive as plain numbers
 * (cost_attn_shape, hidden and FFN widths, token counts). The field names
 * match model_desc so sim/ fills them one to one; hw_dtype and model_dtype
 * share their numbering.
 *
 * Dtype rule (a matmul reading stored elements of type s, weights or KV
 * cache, against activations of type a):
 *   s == a                  compute at a's peak (bf16 x bf16, int8 x int8
 *                           W8A8, fp8 x fp8);
 *   s 8-bit, a 16-bit       weight-only quantisation: s is dequantised in the
 *                           kernel and the product runs at a's peak; s is
 *                           read at 1 byte per element;
 *   anything else           not modelled (bf16 x fp16, fp8 x int8, 16-bit
 *                           weights with 8-bit activations): ERR_INPUT.
 * Every dtype named must have a non-zero peak on the device (a device with
 * no fp8 units has no fp8 format either; weight-only fp8 on an A100 through
 * Marlin kernels is not modelled). Tensors between operators, attention
 * arithmetic and the router run in the 16-bit "hidden" dtype: a when a is
 * 16-bit, else bf16 where the device has it, else fp16.
 *
 * Errors: the dtype and shape checks (cost_prec_check, cost_attn_check)
 * return 0 or ERR_INPUT with the message in the caller's err_t; call them
 * once, when the scenario is checked. The cost functions then cannot fail
 * and return seconds; handing them an unchecked dtype or a negative count
 * is a broken invariant and aborts (MOESIM_ASSERT). Pointers must not be
 * NULL except the optional out-parameters.
 *
 * Zero work costs zero: an operator with no tokens launches no kernel, so
 * it pays no overhead and reads no weights.
 *
 * Every function here is pure and thread-safe; pointers are borrowed for the
 * duration of the call, and an optional cost_op/cost_attn out-parameter
 * (NULL = not wanted) is overwritten, not accumulated.
 */
#ifndef MOESIM_HARDWARE_COST_H
#define MOESIM_HARDWARE_COST_H

#include "common/err.h"
#include "hardware/hw.h"

/* Backward pass time = COST_BACKWARD_FACTOR x forward time: a matmul's
 * backward is two matmuls of the forward's FLOPs (input gradient dY W^T and
 * weight gradient X^T dY), the 6N-FLOPs-per-token rule of Kaplan et al. 2020
 * §2.1 and Narayanan et al. 2021 (Megatron-LM) §5.1. Recomputation is not
 * modelled. */
#define COST_BACKWARD_FACTOR 2.0

/* What an operator or a block of operators did. */
typedef struct cost_op {
    double flops;  /* arithmetic, 2 per multiply-add */
    double bytes;  /* device-memory traffic */
    double time_s; /* modelled time, fixed overheads included */
    int kernels;   /* operators launched; each paid its fixed overhead */
} cost_op;

/* The dtypes of one model on one device. Fill from model_desc: weight =
 * weight_dtype; act = the dtype entering linear layers (activation_dtype
 * for weight-only quantisation; the weight dtype for W8A8 / FP8 compute,
 * whose activation quantisation is taken as fused into the preceding
 * vector operator); kv = kv_dtype. */
typedef struct cost_prec {
    hw_dtype weight;
    hw_dtype act;
    hw_dtype kv;
} cost_prec;

/* 0 when a matmul of stored elements `stored` against activations `act`
 * can run on d under the dtype rule; else ERR_INPUT naming the device, its
 * file, the missing peak key and the dtypes it does have. */
int cost_dtype_supported(const hw_device *d, hw_dtype stored, hw_dtype act,
                         err_t *e);

/* Checks weight x act, kv x hidden, and the hidden dtype on d. */
int cost_prec_check(const hw_device *d, const cost_prec *p, err_t *e);

/* The dtype whose peak a (stored, act) matmul runs at. Precondition: the
 * pair passes the rule (it is act in every allowed case). */
hw_dtype cost_compute_dtype(hw_dtype stored, hw_dtype act);

/* The 16-bit dtype of hidden states and attention arithmetic, see above.
 * Precondition: cost_prec_check passed. */
hw_dtype cost_hidden_dtype(const hw_device *d, const cost_prec *p);

/* One matmul [m_tokens x k] * [k x n] with weights of dtype w:
 *   flops = 2 m k n
 *   bytes = k n bytes(w) + m k bytes(a) + m n * 2   (output in 16-bit)
 *   time  = roofline at cost_compute_dtype(w, a), eff(m_tokens), plus
 *           matmul_overhead_us.
 * m_tokens = 0 costs 0. Seconds. */
double cost_matmul(const hw_device *d, hw_dtype w, hw_dtype a, long m_tokens,
                   long k, long n, cost_op *out);

/* A memory-bound vector operator (norm, activation, softmax, top-k, RoPE,
 * cache write) moving `bytes` through device memory:
 * bytes / (memory_gbps * 1e9 * memory_efficiency) + vector_overhead_us.
 * bytes = 0 costs 0. Seconds. */
double cost_memory_op(const hw_device *d, double bytes);

/* Fused residual add + RMSNorm of `tokens` hidden vectors (Ascend
 * npu_add_rms_norm, vLLM fused_add_rms_norm): reads x and the residual,
 * writes the normed x and the new residual, 4 tokens hidden bytes(hidden). */
double cost_rmsnorm(const hw_device *d, const cost_prec *p, long tokens,
                    long hidden, cost_op *out);

/* The fixed cost of one communication operator (comm_overhead_us), in
 * seconds; the network model adds the transfer time. */
double cost_comm_overhead_s(const hw_device *d);

/* forward_s * COST_BACKWARD_FACTOR. */
double cost_backward_s(double forward_s);

/* --- MoE layer blocks ------------------------------------------------ */

/* Router: logits = x W_g with W_g hidden x experts kept in the 16-bit
 * hidden dtype (published FP8/INT8 checkpoints leave the gate unquantised),
 * then one vector operator for softmax or sigmoid and top-k reading the
 * fp32 logits (4 tokens experts bytes) and writing top_k ids and weights
 * (8 tokens top_k bytes). */
double cost_gate(const hw_device *d, const cost_prec *p, long tokens,
                 long hidden, long experts, long top_k, cost_op *out);

/* Dense SwiGLU FFN (the leading dense layers; also the shared experts, as
 * one FFN of width shared_experts * shared_expert_ffn, the fused form
 * vLLM and Pangu use), split tp ways by columns of gate/up and rows of
 * down, each rank holding ceil(ffn / tp) columns:
 *   gate+up fused: matmul(tokens, hidden, 2 f)     f = ceil(ffn / tp)
 *   SiLU(g) * u:   vector op, reads 2 tokens f bytes(hidden),
 *                  writes tokens f bytes(act)
 *   down:          matmul(tokens, f, hidden)
 * The all-reduce after down is the network model's. tokens = 0 costs 0. */
double cost_dense_ffn(const hw_device *d, const cost_prec *p, long tokens,
                      long hidden, long ffn, int tp, cost_op *out);

/* One device's routed experts as grouped matmuls. tokens_per_expert[i] is
 * the number of token-expert pairs local expert i computes (n_experts
 * entries, borrowed). Each expert is a SwiGLU of three hidden x ffn
 * matrices; expert i's gate+up (hidden x 2 ffn) and down (ffn x hidden) are
 * costed as their own rooflines at eff(tokens_per_expert[i]) and summed,
 * because a grouped GEMM runs the experts' tiles one group after another.
 * The fixed overhead is paid once per grouped kernel: one matmul overhead
 * for gate+up, one vector overhead for SiLU*mul, one matmul overhead for
 * down (GroupedMatmul on Ascend, grouped GEMM / fused-MoE on GPUs).
 * An expert with 0 tokens costs nothing and its weights are not read; a
 * device whose experts all get 0 tokens launches nothing and costs 0.
 * The combine (weighted sum) and the dispatch/combine transfers are not
 * here. Seconds. */
double cost_grouped_experts(const hw_device *d, const cost_prec *p,
                            long hidden, long ffn,
                            const long *tokens_per_expert, int n_experts,
                            cost_op *out);

/* --- Attention ------------------------------------------------------- */

typedef enum cost_attn_kind { COST_ATTN_GQA = 0, COST_ATTN_MLA } cost_attn_kind;

/* Attention sizes, named as in model_desc. GQA uses heads, kv_heads,
 * head_dim; MLA uses heads and the five MLA sizes. Biases and q/k norms are
 * left out (under 0.1% of the work). */
typedef struct cost_attn_shape {
    cost_attn_kind kind;
    long hidden;
    long heads;
    long kv_heads;         /* gqa */
    long head_dim;         /* gqa */
    long q_lora_rank;      /* mla; 0 = q projected straight from hidden */
    long kv_lora_rank;     /* mla */
    long qk_nope_head_dim; /* mla */
    long qk_rope_head_dim; /* mla */
    long v_head_dim;       /* mla */
} cost_attn_shape;

/* What one device's attention group computes in one layer. Prefill and
 * training: q_len = sequence length, ctx_len = 0. Decode: q_len = 1 (more
 * with speculative tokens), ctx_len = tokens already cached. Each device of
 * a tensor-parallel group of tp computes every sequence of the group for
 * heads / tp heads. */
typedef struct cost_attn_batch {
    long sequences; /* sequences the tp group processes */
    long q_len;     /* new tokens per sequence */
    long ctx_len;   /* cached tokens per sequence before this step */
    int tp;         /* tensor-parallel degree of attention, >= 1 */
    /* MLA only: 1 = weight-absorbed form (decode: scores over the 576-dim
     * latent, DeepSeek-V2 §2.1.2, FlashMLA), 0 = up-projected form
     * (prefill, training). */
    int mla_absorbed;
} cost_attn_batch;

/* Where attention time goes. */
typedef struct cost_attn {
    cost_op proj; /* q/kv/o projections (and MLA absorption matmuls) */
    cost_op vec;  /* RoPE, latent norms, KV-cache write: one vector op */
    cost_op core; /* scores, softmax, weighted values: one fused kernel */
    cost_op total;
} cost_attn;

/* ERR_INPUT unless the sizes are positive for the kind, tp >= 1 divides
 * heads, and (GQA) tp divides kv_heads or kv_heads divides tp (KV heads
 * replicated when tp > kv_heads). */
int cost_attn_check(const cost_attn_shape *a, int tp, err_t *e);

/* KV-cache bytes one device holds per token per layer: GQA 2 kv_local
 * head_dim bytes(kv) with kv_local = max(1, kv_heads / tp); MLA
 * (kv_lora_rank + qk_rope_head_dim) bytes(kv), the whole latent on every tp
 * rank (it has no heads to split). */
double cost_kv_bytes_per_token(const cost_attn_shape *a, hw_dtype kv, int tp);

/* One layer's attention on one device (formulas in COST_MODEL.md). The core
 * counts the attended (query, key) pairs exactly, causal mask included:
 *   pairs = sequences (q_len ctx_len + q_len (q_len + 1) / 2)
 * so prefill score FLOPs grow with seq^2 / 2 and decode bytes grow linearly
 * with the context. Requires cost_prec_check and cost_attn_check to have
 * passed. sequences or q_len = 0 costs 0. Seconds. */
double cost_attention(const hw_device *d, const cost_prec *p,
                      const cost_attn_shape *a, const cost_attn_batch *b,
                      cost_attn *out);

#endif
