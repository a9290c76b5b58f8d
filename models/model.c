#include "models/model.h"

#include <stdio.h>
#include <string.h>

#include "common/ini.h"
#include "models/router.h"

const char *const model_gate_names[MODEL_GATE_COUNT] = {"softmax", "sigmoid"};
const char *const model_dtype_names[MODEL_DTYPE_COUNT] = {"bf16", "fp16",
                                                         "fp8", "int8"};

double model_dtype_bytes(model_dtype t)
{
    return (t == MODEL_BF16 || t == MODEL_FP16) ? 2.0 : 1.0;
}

static int load_model_section(inidoc *d, model_desc *m, err_t *e)
{
    int rc, sec = ini_find_section(d, "model");
    if (sec < 0)
        return err_input(e, ini_path(d), 0,
                         "missing section [model]; expected a model "
                         "description");
    const char *name = NULL;
    int wd = MODEL_BF16, ad = MODEL_BF16, kd = -1;
    if ((rc = ini_get_str(d, sec, "name", 1, &name, e)) != 0 ||
        (rc = ini_get_int(d, sec, "layers", 1, 1, 1000, &m->layers, e)) !=
            0 ||
        (rc = ini_get_int(d, sec, "hidden", 1, 16, 1 << 20, &m->hidden, e)) !=
            0 ||
        (rc = ini_get_int(d, sec, "vocab", 1, 2, 1 << 24, &m->vocab, e)) !=
            0 ||
        (rc = ini_get_bool(d, sec, "tied_embeddings", 1, &m->tied_embeddings,
                           e)) != 0 ||
        (rc = ini_get_enum(d, sec, "weight_dtype", 1, model_dtype_names,
                           MODEL_DTYPE_COUNT, &wd, e)) != 0 ||
        (rc = ini_get_enum(d, sec, "activation_dtype", 1, model_dtype_names,
                           MODEL_DTYPE_COUNT, &ad, e)) != 0 ||
        (rc = ini_get_enum(d, sec, "kv_dtype", 0, model_dtype_names,
                           MODEL_DTYPE_COUNT, &kd, e)) < 0)
        return rc;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->weight_dtype = (model_dtype)wd;
    m->activation_dtype = (model_dtype)ad;
    m->kv_dtype = kd < 0 ? m->activation_dtype : (model_dtype)kd;
    return 0;
}

static int load_attention(inidoc *d, model_desc *m, err_t *e)
{
    static const char *const kinds[] = {"gqa", "mla"};
    int rc, kind = 0, sec = ini_find_section(d, "attention");
    if (sec < 0)
        return err_input(e, ini_path(d), 0,
                         "missing section [attention]; expected kind = gqa "
                         "or mla and its sizes");
    if ((rc = ini_get_enum(d, sec, "kind", 1, kinds, 2, &kind, e)) != 0 ||
        (rc = ini_get_int(d, sec, "heads", 1, 1, 4096, &m->heads, e)) != 0)
        return rc;
    m->attn = (model_attn_kind)kind;
    if (m->attn == MODEL_ATTN_GQA) {
        if ((rc = ini_get_int(d, sec, "kv_heads", 1, 1, 4096, &m->kv_heads,
                              e)) != 0 ||
            (rc = ini_get_int(d, sec, "head_dim", 1, 1, 4096, &m->head_dim,
                              e)) != 0 ||
            (rc = ini_get_bool(d, sec, "qkv_bias", 0, &m->qkv_bias, e)) < 0 ||
            (rc = ini_get_bool(d, sec, "qk_norm", 0, &m->qk_norm, e)) < 0)
            return rc;
        if (m->heads % m->kv_heads != 0)
            return ini_key_error(d, sec, "kv_heads", e,
                                 "%d query heads do not split into %d KV "
                                 "groups; expected a divisor of heads",
                                 m->heads, m->kv_heads);
    } else {
        if ((rc = ini_get_int(d, sec, "q_lora_rank", 1, 0, 1 << 16,
                              &m->q_lora_rank, e)) != 0 ||
            (rc = ini_get_int(d, sec, "kv_lora_rank", 1, 1, 1 << 16,
                              &m->kv_lora_rank, e)) != 0 ||
            (rc = ini_get_int(d, sec, "qk_nope_head_dim", 1, 1, 4096,
                              &m->qk_nope_head_dim, e)) != 0 ||
            (rc = ini_get_int(d, sec, "qk_rope_head_dim", 1, 0, 4096,
                              &m->qk_rope_head_dim, e)) != 0 ||
            (rc = ini_get_int(d, sec, "v_head_dim", 1, 1, 4096,
                              &m->v_head_dim, e)) != 0)
            return rc;
    }
    return 0;
}

static int load_moe(inidoc *d, model_desc *m, err_t *e)
{
    int rc, sec = ini_find_section(d, "dense");
    if (sec >= 0) {
        if ((rc = ini_get_int(d, sec, "layers", 1, 0, m->layers - 1,
                              &m->dense_layers, e)) != 0)
            return rc;
        if ((rc = ini_get_int(d, sec, "ffn", m->dense_layers > 0, 1, 1 << 20,
                              &m->dense_ffn, e)) < 0)
            return rc;
    }
    sec = ini_find_section(d, "moe");
    if (sec < 0)
        return err_input(e, ini_path(d), 0,
                         "missing section [moe]; expected the experts and "
                         "the gate");
    /* The router's own names, so a model file accepts exactly the policies
     * a scenario can run. */
    const char *routers[ROUTER_POLICY_COUNT];
    for (int i = 0; i < ROUTER_POLICY_COUNT; i++)
        routers[i] = router_policy_name((router_policy)i);
    int gate = 0, router = 0;
    m->groups = 1;
    m->scaling_factor = 1.0;
    if ((rc = ini_get_int(d, sec, "routed_experts", 1, 1, 32767,
                          &m->routed_experts, e)) != 0 ||
        (rc = ini_get_int(d, sec, "shared_experts", 1, 0, 1024,
                          &m->shared_experts, e)) != 0 ||
        (rc = ini_get_int(d, sec, "expert_ffn", 1, 1, 1 << 20, &m->expert_ffn,
                          e)) != 0 ||
        (rc = ini_get_int(d, sec, "shared_expert_ffn", m->shared_experts > 0,
                          1, 1 << 20, &m->shared_expert_ffn, e)) < 0 ||
        (rc = ini_get_int(d, sec, "top_k", 1, 1, 32767, &m->top_k, e)) != 0 ||
        (rc = ini_get_int(d, sec, "groups", 0, 1, 32767, &m->groups, e)) <
            0 ||
        (rc = ini_get_enum(d, sec, "gate", 1, model_gate_names,
                           MODEL_GATE_COUNT, &gate, e)) != 0 ||
        (rc = ini_get_bool(d, sec, "renormalize", 1, &m->renormalize, e)) !=
            0 ||
        (rc = ini_get_double(d, sec, "scaling_factor", 0, 1e-6, 1e6,
                             &m->scaling_factor, e)) < 0 ||
        (rc = ini_get_bool(d, sec, "correction_bias", 0, &m->correction_bias,
                           e)) < 0 ||
        (rc = ini_get_enum(d, sec, "router", 1, routers, ROUTER_POLICY_COUNT,
                           &router, e)) != 0)
        return rc;
    m->gate = (model_gate)gate;
    snprintf(m->native_router, sizeof m->native_router, "%s",
             routers[router]);
    m->topk_groups = m->groups;
    if ((rc = ini_get_int(d, sec, "topk_groups", 0, 1, 32767, &m->topk_groups,
                          e)) < 0)
        return rc;

    if (m->top_k > m->routed_experts)
        return ini_key_error(d, sec, "top_k", e,
                             "top_k %d exceeds the %d routed experts; "
                             "expected at most routed_experts",
                             m->top_k, m->routed_experts);
    if (m->routed_experts % m->groups != 0)
        return ini_key_error(d, sec, "groups", e,
                             "%d routed experts do not split into %d equal "
                             "groups; expected a divisor of routed_experts",
                             m->routed_experts, m->groups);
    if (m->topk_groups > m->groups)
        return ini_key_error(d, sec, "topk_groups", e,
                             "%d kept groups of %d; expected at most groups",
                             m->topk_groups, m->groups);
    if (m->top_k > m->topk_groups * (m->routed_experts / m->groups))
        return ini_key_error(d, sec, "top_k", e,
                             "top_k %d exceeds the %d experts in %d kept "
                             "groups; expected at most that many",
                             m->top_k,
                             m->topk_groups * (m->routed_experts / m->groups),
                             m->topk_groups);
    if (router == ROUTER_MOGE && m->top_k % m->groups != 0)
        return ini_key_error(d, sec, "top_k", e,
                             "MoGE picks top_k/groups experts per group but "
                             "%d is not divisible by %d groups",
                             m->top_k, m->groups);
    if (m->correction_bias && m->gate != MODEL_GATE_SIGMOID)
        return ini_key_error(d, sec, "correction_bias", e,
                             "a correction bias goes with gate = sigmoid "
                             "(DeepSeek-V3); expected no");
    return 0;
}

int model_load(const char *path, model_desc *out, err_t *e)
{
    inidoc *d = NULL;
    memset(out, 0, sizeof *out);
    int rc = ini_load(path, &d, e);
    if (rc != 0)
        return rc;
    snprintf(out->path, sizeof out->path, "%s", path);
    if ((rc = load_model_section(d, out, e)) == 0 &&
        (rc = load_attention(d, out, e)) == 0 &&
        (rc = load_moe(d, out, e)) == 0)
        rc = ini_check_unused(d, "[model], [attention], [dense], [moe]", e);
    ini_destroy(d);
    return rc;
}

int model_moe_layers(const model_desc *m)
{
    return m->layers - m->dense_layers;
}

double model_attn_params(const model_desc *m)
{
    double h = m->hidden, heads = m->heads;
    if (m->attn == MODEL_ATTN_GQA) {
        double hd = m->head_dim, kvh = m->kv_heads;
        double p = h * heads * hd + 2 * h * kvh * hd + heads * hd * h;
        if (m->qkv_bias)
            p += heads * hd + 2 * kvh * hd + h;
        if (m->qk_norm)
            p += 2 * hd;
        return p;
    }
    /* MLA (DeepSeek-V2/V3): q through a low-rank bottleneck with its norm,
     * a joint compressed KV plus the decoupled RoPE key, its norm, the
     * up-projection to per-head keys and values, and the output. */
    double qk = m->qk_nope_head_dim + m->qk_rope_head_dim;
    double q = m->q_lora_rank > 0 ? h * m->q_lora_rank + m->q_lora_rank +
                                        m->q_lora_rank * heads * qk
                                  : h * heads * qk;
    double kv = h * (m->kv_lora_rank + m->qk_rope_head_dim) + m->kv_lora_rank +
                (double)m->kv_lora_rank * heads *
                    (m->qk_nope_head_dim + m->v_head_dim);
    double o = heads * m->v_head_dim * h;
    return q + kv + o;
}

double model_expert_params(const model_desc *m)
{
    return 3.0 * m->hidden * m->expert_ffn; /* SwiGLU: gate, up, down */
}

double model_shared_params(const model_desc *m)
{
    return 3.0 * m->hidden * (double)m->shared_expert_ffn * m->shared_experts;
}

double model_dense_ffn_params(const model_desc *m)
{
    return 3.0 * m->hidden * (double)m->dense_ffn;
}

double model_embedding_params(const model_desc *m)
{
    return (m->tied_embeddings ? 1.0 : 2.0) * m->vocab * (double)m->hidden;
}

/* Everything but the routed experts: attention, norms, dense FFNs, shared
 * experts, router matrices, embeddings. */
static double non_routed_params(const model_desc *m)
{
    double h = m->hidden;
    double per_layer = model_attn_params(m) + 2 * h; /* two RMSNorms */
    double router = h * m->routed_experts +
                    (m->correction_bias ? m->routed_experts : 0);
    return m->layers * per_layer + m->dense_layers * model_dense_ffn_params(m) +
           model_moe_layers(m) * (model_shared_params(m) + router) + h +
           model_embedding_params(m);
}

double model_total_params(const model_desc *m)
{
    return non_routed_params(m) + model_moe_layers(m) *
                                      (double)m->routed_experts *
                                      model_expert_params(m);
}

double model_active_params(const model_desc *m)
{
    return non_routed_params(m) +
           model_moe_layers(m) * (double)m->top_k * model_expert_params(m);
}

/* The input table is a lookup and costs no FLOPs, so it goes; a tied table
 * is also the output projection, which does, so then nothing goes. */
double model_active_compute_params(const model_desc *m)
{
    return model_active_params(m) -
           (m->tied_embeddings ? 0.0 : (double)m->vocab * m->hidden);
}

double model_expert_bytes(const model_desc *m, double bytes_per_element)
{
    return model_expert_params(m) * bytes_per_element;
}

double model_kv_bytes_per_token(const model_desc *m)
{
    double per_layer = m->attn == MODEL_ATTN_GQA
                           ? 2.0 * m->kv_heads * m->head_dim
                           : (double)m->kv_lora_rank + m->qk_rope_head_dim;
    return per_layer * m->layers * model_dtype_bytes(m->kv_dtype);
}
