/*
 * memory: what one device must hold for a scenario's layout, and whether it
 * fits in its HBM.
 *
 * Layout rules (README "Memory model"): attention, dense FFN, shared experts
 * and embeddings are split by tensor parallelism over tp = devices /
 * attn_dp_size devices; routed experts are split over ep_size devices (plus
 * the policy's redundant slots); the router matrix is replicated. KV cache:
 * GQA heads split by tp, MLA's latent cache is whole on every rank. Training
 * adds gradients (weight dtype) and Adam states (fp32 master, m, v = 12 bytes
 * per weight) sharded over the parameter's data-parallel copies (ZeRO-1), and
 * activations saved for the backward pass (selective recomputation,
 * Korthikanti et al. 2022: 34 bytes * hidden per token per layer, plus each
 * routed expert's SwiGLU intermediates). Inference activations are the
 * transient working set of the largest layer.
 */
#ifndef MOESIM_SIM_MEMORY_H
#define MOESIM_SIM_MEMORY_H

#include "scenarios/scen.h"

typedef struct mem_breakdown {
    int attn_tp;                  /* tensor-parallel degree of attention */
    int expert_slots_per_device;  /* routed expert slots per MoE layer */
    double expert_weight_bytes;   /* routed experts on one device */
    double other_weight_bytes;    /* attention, dense, shared, embeddings */
    double weight_bytes;          /* sum of the two */
    double kv_cache_bytes;
    double activation_bytes;
    double gradient_bytes;        /* train only */
    double optimizer_bytes;       /* train only */
    double needed_bytes;
    double available_bytes;
    int fits;
} mem_breakdown;

/* Fills *out for policy p of scenario s (p may be NULL: no redundancy). */
void mem_per_device(const scenario *s, const scen_policy *p,
                    mem_breakdown *out);

#endif
