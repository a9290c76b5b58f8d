#include "sim/memory.h"

#include <string.h>

void mem_per_device(const scenario *s, const scen_policy *p,
                    mem_breakdown *out)
{
    memset(out, 0, sizeof *out);
    const model_desc *m = &s->model;
    const double wb = model_dtype_bytes(m->weight_dtype);
    const double ab = model_dtype_bytes(m->activation_dtype);
    const int tp = s->devices / s->attn_dp_size;
    const int moe = model_moe_layers(m);
    const int redundant = p ? p->redundant_experts : 0;
    const int slots = (m->routed_experts + redundant) / s->ep_size;
    out->attn_tp = tp;
    out->expert_slots_per_device = slots;

    double expert_params = (double)moe * slots * model_expert_params(m);
    double split = (double)m->layers * model_attn_params(m) +
                   (double)m->dense_layers * model_dense_ffn_params(m) +
                   (double)moe * model_shared_params(m) +
                   model_embedding_params(m);
    double replicated = (double)moe * m->hidden * m->routed_experts +
                        (double)m->layers * 2.0 * m->hidden;
    double other_params = split / tp + replicated;
    out->expert_weight_bytes = expert_params * wb;
    out->other_weight_bytes = other_params * wb;
    out->weight_bytes = out->expert_weight_bytes + out->other_weight_bytes;

    long tokens = scen_tokens_per_device(s);
    double kv_per_token = model_kv_bytes_per_token(m);
    if (m->attn == MODEL_ATTN_GQA)
        kv_per_token /= (tp < m->kv_heads ? tp : m->kv_heads);
    if (s->phase == SCEN_DECODE)
        out->kv_cache_bytes = (double)s->sequences_per_device *
                              (s->context_len + 1) * kv_per_token;
    else if (s->phase == SCEN_PREFILL)
        out->kv_cache_bytes = (double)tokens * kv_per_token;

    /* Routed tokens a device's experts receive on average: tokens * top_k
     * spread over ep_size devices, times the ep group's share. */
    int top_k = p ? p->top_k : m->top_k;
    double expert_inter = (double)top_k * m->expert_ffn * 3.0;
    if (s->phase == SCEN_TRAIN) {
        double per_token_layer = 34.0 * m->hidden + expert_inter * ab;
        out->activation_bytes = (double)tokens * m->layers * per_token_layer;
        double all_params = expert_params + other_params;
        out->gradient_bytes = all_params * wb;
        /* Adam states sharded over each weight's data-parallel copies. */
        double expert_copies = (double)s->devices / s->ep_size;
        double other_copies = s->attn_dp_size;
        out->optimizer_bytes =
            12.0 * (expert_params / expert_copies + other_params / other_copies);
    } else {
        double widest = (double)m->hidden * 4.0;
        double ffn = (double)(m->dense_ffn > 0 ? m->dense_ffn : 0) * 3.0 / tp;
        if (ffn > widest)
            widest = ffn;
        if (expert_inter > widest)
            widest = expert_inter;
        out->activation_bytes = (double)tokens * widest * ab * 2.0;
    }
    out->needed_bytes = out->weight_bytes + out->kv_cache_bytes +
                        out->activation_bytes + out->gradient_bytes +
                        out->optimizer_bytes;
    out->available_bytes = s->node.device.memory_bytes;
    out->fits = out->needed_bytes <= out->available_bytes;
}
