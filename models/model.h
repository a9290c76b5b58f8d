/*
 * model: Mixture-of-Experts model descriptions read from INI files, and the
 * facts derived from them (parameter counts, bytes per expert, KV cache).
 *
 * Sections: [model] (sizes, dtypes), [attention] (gqa or mla), [dense]
 * (leading dense layers), [moe] (experts and the native gate). Every key is
 * listed in README "Model files". Counts follow the published convention of
 * Pangu Pro MoE (shared/reference/models.md): total = every weight, active =
 * the weights one token touches in full, with both embedding tables counted
 * (untied) and k routed plus all shared experts per MoE layer.
 */
#ifndef MOESIM_MODELS_MODEL_H
#define MOESIM_MODELS_MODEL_H

#include "common/err.h"

#define MODEL_NAME_MAX 96
#define MODEL_PATH_MAX 1024

typedef enum model_attn_kind { MODEL_ATTN_GQA = 0, MODEL_ATTN_MLA } model_attn_kind;
typedef enum model_gate {
    MODEL_GATE_SOFTMAX = 0,
    MODEL_GATE_SIGMOID,
    MODEL_GATE_COUNT
} model_gate;
extern const char *const model_gate_names[MODEL_GATE_COUNT];

/* Element types; the numbering matches hw_dtype (bf16, fp16, fp8, int8) so
 * the two can be passed between hardware/ and models/ without either
 * including the other. */
typedef enum model_dtype {
    MODEL_BF16 = 0,
    MODEL_FP16,
    MODEL_FP8,
    MODEL_INT8,
    MODEL_DTYPE_COUNT
} model_dtype;
extern const char *const model_dtype_names[MODEL_DTYPE_COUNT];
double model_dtype_bytes(model_dtype t);

typedef struct model_desc {
    char name[MODEL_NAME_MAX];
    char path[MODEL_PATH_MAX];
    char native_router[32]; /* the router name the model was trained with */

    int layers;
    int hidden;
    int vocab;
    int tied_embeddings;
    model_dtype weight_dtype;
    model_dtype activation_dtype;
    model_dtype kv_dtype;

    model_attn_kind attn;
    int heads;
    int kv_heads;  /* gqa */
    int head_dim;  /* gqa */
    int qkv_bias;  /* gqa: biased q, k, v and output projections */
    int qk_norm;   /* gqa: per-head RMSNorm on q and k (Qwen3) */
    int q_lora_rank;      /* mla; 0 = q projected directly */
    int kv_lora_rank;     /* mla */
    int qk_nope_head_dim; /* mla */
    int qk_rope_head_dim; /* mla */
    int v_head_dim;       /* mla */

    int dense_layers; /* leading layers with a dense FFN */
    int dense_ffn;    /* their SwiGLU width */

    int routed_experts;
    int shared_experts;
    int expert_ffn;        /* one routed expert's SwiGLU width */
    int shared_expert_ffn; /* one shared expert's SwiGLU width */
    int top_k;
    int groups;      /* expert groups (1 = none) */
    int topk_groups; /* groups a token may reach */
    model_gate gate;
    int renormalize;
    double scaling_factor;
    int correction_bias; /* aux-loss-free bias (DeepSeek-V3) */
} model_desc;

/* Loads and validates a model file into *out. ERR_INPUT with FILE:LINE. */
int model_load(const char *path, model_desc *out, err_t *e);

int model_moe_layers(const model_desc *m);

/* Parameter counts (numbers of weights, not bytes). */
double model_attn_params(const model_desc *m);        /* one layer */
double model_expert_params(const model_desc *m);      /* one routed expert */
double model_shared_params(const model_desc *m);      /* all shared, one layer */
double model_dense_ffn_params(const model_desc *m);   /* one dense layer */
double model_embedding_params(const model_desc *m);   /* input + output */
double model_total_params(const model_desc *m);
double model_active_params(const model_desc *m);
/* Active weights that cost FLOPs: active less the input embedding lookup
 * (untied; a tied table is the output projection too and stays). */
double model_active_compute_params(const model_desc *m);

/* Bytes of one routed expert's weights in dtype t (bytes per element). */
double model_expert_bytes(const model_desc *m, double bytes_per_element);

/* KV-cache bytes per token summed over all layers, in the model's kv dtype:
 * gqa 2 * kv_heads * head_dim per layer; mla kv_lora_rank + qk_rope_head_dim
 * per layer (the compressed latent cache of DeepSeek-V2/V3). */
double model_kv_bytes_per_token(const model_desc *m);

#endif
