/*
 * workload: topic-clustered hidden states and layer-skewed router matrices.
 *
 * Layout. h is T x D row-major, D = route_dim, split into a semantic block
 * of R = D/2 coordinates and a lexical block of D-R. Token vectors have
 * N(0,1) entries; router columns are unit directions (gsl_ran_dir_nd) times
 * a gain, so each block's contribution to a logit is O(1) whatever D is:
 *
 *   h_t        = [ c_k + sequence_spread*eta_s + token_spread*eps_t | xi_t ]
 *   W_l[:, e]  = [ heat_l*kappa_le*u_le                        | v_le ]
 *   z_te       = heat_l*kappa_le*(u_le . (c_k + ...))  +  v_le . xi_t
 *
 * with |u_le| = |v_le| = 1, so u.c_k and v.xi_t are N(0,1) over experts
 * and tokens. The first term is shared by every token of topic k (the
 * persistent part of the skew); the second is per-token noise that spreads
 * tokens over experts. heat_l sets their ratio per layer and kappa_le
 * (lognormal over experts) lets a few experts of a hot layer dominate.
 * At heat 0 every column has the same law, so routing is exchangeable over
 * experts and all skew is the knobs' doing. The calibration of the
 * defaults is in models/WORKLOAD.md.
 *
 * Random streams, one gsl_rng each, seeded by seed_stream(seed, stream,
 * index) from common/seed.h: SEED_WORKLOAD_ROUTER (re-seeded per layer, so layer l's matrix does not
 * depend on how many layers there are), SEED_WORKLOAD_TOPICS (centroids),
 * SEED_WORKLOAD_VOCAB (per-topic id maps), SEED_WORKLOAD_DRIFT (the AR(1) innovations,
 * sequential over steps), SEED_WORKLOAD_SEQS (decode turnover, sequential over
 * steps) and SEED_WORKLOAD_TOKENS (re-seeded per step, so step s's draws do not
 * depend on which earlier steps were generated).
 */
#include "models/workload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>

#include "common/seed.h"
#include "models/router.h"

const char *const workload_phase_names[WORKLOAD_PHASE_COUNT] = {
    "train", "prefill", "decode"};

/* Limits: larger sizes are input errors rather than huge allocations;
 * every id and index stays inside its type. */
#define WORKLOAD_MAX_DIM 16384
#define WORKLOAD_MAX_TOPICS 4096
#define WORKLOAD_MAX_EXPERTS 32767
#define WORKLOAD_MAX_LAYERS 4096
#define WORKLOAD_MAX_TOKENS (1 << 22)
#define WORKLOAD_MAX_VOCAB (1 << 26)

struct workload {
    workload_params p;
    workload_shape s;
    unsigned long seed;
    int dim;     /* D */
    int sem_dim; /* R */

    float *router;  /* [layers][D][N] */
    double *heat;   /* [layers] */
    double *dir;    /* [D] scratch for gsl_ran_dir_nd */

    float *centroid;   /* [topics][R] */
    double *log_weight; /* [topics] AR(1) state */
    double *weights;   /* [topics] current mixture, sums to 1 */
    unsigned int *counts; /* [topics] multinomial scratch */
    uint64_t *vocab_mul;  /* [topics] id = (mul*rank + add) mod vocab */
    uint64_t *vocab_add;
    gsl_ran_discrete_t *vocab_table; /* Zipf over ranks */

    int *seq_topic;      /* [S] */
    uint64_t *seq_id;    /* [S] */
    float *seq_centroid; /* [S][R] c_k + sequence_spread*eta */
    int *scratch;        /* [S] indices of the sequences being replaced */
    int *topic_list;     /* [S] topics to hand out */
    uint64_t next_seq_id;

    float *h;            /* [T][D] */
    uint32_t *token_id;  /* [T] */
    uint64_t *token_seq; /* [T] */
    int *token_topic;    /* [T] */

    gsl_rng *rng_drift;
    gsl_rng *rng_seqs;
    gsl_rng *rng_tokens;

    long step; /* current step, -1 before the first; the drift and the
                  decode population are those of max(step, 0) */
};

/* ---- params ----------------------------------------------------------- */

void workload_params_default(workload_params *p)
{
    p->route_dim = 64;
    p->topics = 32;
    p->topic_sigma = 1.2;
    p->topic_drift_steps = 300.0;
    p->sequence_spread = 0.5;
    p->token_spread = 0.5;
    p->heat_first = 0.12;
    p->heat_last = 1.0;
    p->heat_jitter = 0.4;
    p->expert_spread = 0.8;
    p->decode_length_steps = 500.0;
    p->vocab_zipf = 1.1;
    p->vocab_topic_share = 0.5;
}

/* One row per knob: the loader and the checker share the ranges. */
typedef struct knob {
    const char *key;
    int is_int;
    size_t offset;
    double min, max;
} knob;

#define KNOB_INT(f, lo, hi) {#f, 1, offsetof(workload_params, f), lo, hi}
#define KNOB_DBL(f, lo, hi) {#f, 0, offsetof(workload_params, f), lo, hi}

static const knob knobs[] = {
    KNOB_INT(route_dim, 2, WORKLOAD_MAX_DIM),
    KNOB_INT(topics, 1, WORKLOAD_MAX_TOPICS),
    KNOB_DBL(topic_sigma, 0.0, 6.0),
    KNOB_DBL(topic_drift_steps, 1.0, 1e9),
    KNOB_DBL(sequence_spread, 0.0, 10.0),
    KNOB_DBL(token_spread, 0.0, 10.0),
    KNOB_DBL(heat_first, 0.0, 100.0),
    KNOB_DBL(heat_last, 0.0, 100.0),
    KNOB_DBL(heat_jitter, 0.0, 3.0),
    KNOB_DBL(expert_spread, 0.0, 3.0),
    KNOB_DBL(decode_length_steps, 1.0, 1e9),
    KNOB_DBL(vocab_zipf, 0.0, 4.0),
    KNOB_DBL(vocab_topic_share, 0.0, 1.0),
};
#define N_KNOBS (sizeof knobs / sizeof knobs[0])

int workload_params_load(inidoc *d, int sec, workload_params *p, err_t *e)
{
    if (sec < 0)
        return 0;
    for (size_t i = 0; i < N_KNOBS; i++) {
        const knob *k = &knobs[i];
        char *field = (char *)p + k->offset;
        int rc;
        if (k->is_int) {
            int v;
            rc = ini_get_int(d, sec, k->key, 0, (int)k->min, (int)k->max, &v,
                             e);
            if (rc == 0)
                memcpy(field, &v, sizeof v);
        } else {
            double v;
            rc = ini_get_double(d, sec, k->key, 0, k->min, k->max, &v, e);
            if (rc == 0)
                memcpy(field, &v, sizeof v);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int workload_params_check(const workload_params *p, err_t *e)
{
    for (size_t i = 0; i < N_KNOBS; i++) {
        const knob *k = &knobs[i];
        const char *field = (const char *)p + k->offset;
        double v;
        if (k->is_int) {
            int iv;
            memcpy(&iv, field, sizeof iv);
            v = iv;
        } else {
            memcpy(&v, field, sizeof v);
        }
        /* !(in range) also catches NaN */
        if (!(v >= k->min && v <= k->max))
            return err_set(e, ERR_INPUT,
                           "workload: %s = %g is out of range; expected %g "
                           "to %g",
                           k->key, v, k->min, k->max);
    }
    return 0;
}

/* ---- streams ----------------------------------------------------------- */

static gsl_rng *rng_new(void)
{
    return gsl_rng_alloc(gsl_rng_mt19937);
}

/* ---- model pieces ------------------------------------------------------ */

/* Rows lo..hi-1 of the column starting at col (stride n) get a uniformly
 * random unit direction (gsl_ran_dir_nd, through the double scratch buffer
 * w->dir) times norm. */
static void fill_direction(workload *w, gsl_rng *r, float *col, int n, int lo,
                           int hi, double norm)
{
    gsl_ran_dir_nd(r, (size_t)(hi - lo), w->dir);
    for (int i = lo; i < hi; i++)
        col[(size_t)i * (size_t)n] = (float)(norm * w->dir[i - lo]);
}

/* Layer l's heat and router matrix, from its own re-seeded stream. */
static void build_router(workload *w, gsl_rng *r, int layer)
{
    const int N = w->s.experts, D = w->dim, R = w->sem_dim;
    const int L = w->s.moe_layers;
    gsl_rng_set(r, seed_stream(w->seed, SEED_WORKLOAD_ROUTER, (uint64_t)layer));

    /* a linear ramp over depth, times a lognormal jitter of median 1 */
    double frac = L > 1 ? (double)layer / (double)(L - 1) : 0.0;
    double ramp = w->p.heat_first + (w->p.heat_last - w->p.heat_first) * frac;
    double heat = ramp * exp(gsl_ran_gaussian_ziggurat(r, w->p.heat_jitter));
    w->heat[layer] = heat;

    /* Both blocks of a column are unit directions times a gain, so that
     * at heat 0 every expert's logit has the same law (routing is
     * exchangeable across experts) and the skew comes only from heat and
     * kappa. Gaussian columns in 32 dimensions would vary in norm by
     * +-12%, enough to make the longest columns hot by accident (measured:
     * per-expert imbalance 4.5 at heat 0.26 before normalising). kappa is
     * lognormal with median 1. */
    float *W = w->router + (size_t)layer * (size_t)D * (size_t)N;
    for (int e = 0; e < N; e++) {
        double kappa = exp(gsl_ran_gaussian_ziggurat(r, w->p.expert_spread));
        double gain = heat * kappa;
        fill_direction(w, r, W + e, N, 0, R, gain);
        fill_direction(w, r, W + e, N, R, D, 1.0);
    }
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Topic centroids and the per-topic vocabulary maps. A topic's own ids are
 * an affine permutation of the global Zipf ranks (mul coprime with vocab),
 * so every topic has its own frequent words at no memory cost. */
static void build_topics(workload *w, gsl_rng *r)
{
    const int K = w->p.topics, R = w->sem_dim;
    const uint64_t V = (uint64_t)w->s.vocab;
    gsl_rng_set(r, seed_stream(w->seed, SEED_WORKLOAD_TOPICS, 0));
    for (size_t i = 0; i < (size_t)K * (size_t)R; i++)
        w->centroid[i] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);

    gsl_rng_set(r, seed_stream(w->seed, SEED_WORKLOAD_VOCAB, 0));
    for (int k = 0; k < K; k++) {
        uint64_t mul = 1;
        if (V > 1) {
            do
                mul = 1 + gsl_rng_uniform_int(r, (unsigned long)(V - 1));
            while (gcd64(mul, V) != 1);
        }
        w->vocab_mul[k] = mul;
        w->vocab_add[k] = gsl_rng_uniform_int(r, (unsigned long)V);
    }
}

/* The mixture from the log-weights, shifted by their maximum so that exp
 * cannot overflow. */
static void update_weights(workload *w)
{
    const int K = w->p.topics;
    double top = gsl_stats_max(w->log_weight, 1, (size_t)K);
    double sum = 0.0;
    for (int k = 0; k < K; k++) {
        w->weights[k] = exp(w->log_weight[k] - top);
        sum += w->weights[k];
    }
    for (int k = 0; k < K; k++)
        w->weights[k] /= sum;
}

/* n topics drawn from the current mixture into w->topic_list: one
 * multinomial draw and a shuffle (same law as n categorical draws, and
 * allocation-free, which gsl_ran_discrete_preproc per step is not). */
static void draw_topics(workload *w, gsl_rng *r, int n)
{
    const int K = w->p.topics;
    gsl_ran_multinomial(r, (size_t)K, (unsigned int)n, w->weights, w->counts);
    int j = 0;
    for (int k = 0; k < K; k++)
        for (unsigned int c = 0; c < w->counts[k]; c++)
            w->topic_list[j++] = k;
    gsl_ran_shuffle(r, w->topic_list, (size_t)n, sizeof(int));
}

/* Sequence i starts on topic k: its centroid is the topic's plus a
 * per-sequence offset that it keeps for life. */
static void start_sequence(workload *w, gsl_rng *r, int i, int k,
                           uint64_t id)
{
    const int R = w->sem_dim;
    const float *c = w->centroid + (size_t)k * (size_t)R;
    float *m = w->seq_centroid + (size_t)i * (size_t)R;
    for (int j = 0; j < R; j++)
        m[j] = c[j] + (float)gsl_ran_gaussian_ziggurat(r, w->p.sequence_spread);
    w->seq_topic[i] = k;
    w->seq_id[i] = id;
}

/* One AR(1) step of every topic's log-weight:
 * x <- phi*x + sigma*sqrt(1-phi^2)*xi, phi = exp(-1/tau), which keeps the
 * stationary std at topic_sigma and decorrelates over tau steps.
 * Training shuffles its corpus, so its mixture does not drift. */
static void advance_drift(workload *w)
{
    if (w->s.phase == WORKLOAD_TRAIN)
        return;
    double phi = exp(-1.0 / w->p.topic_drift_steps);
    double innov = w->p.topic_sigma * sqrt(1.0 - phi * phi);
    for (int k = 0; k < w->p.topics; k++)
        w->log_weight[k] = phi * w->log_weight[k] +
                          gsl_ran_gaussian_ziggurat(w->rng_drift, innov);
    update_weights(w);
}

/* Decode turnover: each sequence ends with probability 1/mean length (a
 * geometric length) and a new sequence, topic drawn from the current
 * mixture, takes its place. */
static void advance_sequences(workload *w)
{
    if (w->s.phase != WORKLOAD_DECODE)
        return;
    const int S = w->s.sequences;
    double q = 1.0 / w->p.decode_length_steps;
    int n = 0;
    for (int i = 0; i < S; i++)
        if (gsl_ran_bernoulli(w->rng_seqs, q))
            w->scratch[n++] = i;
    if (n == 0)
        return;
    draw_topics(w, w->rng_seqs, n);
    for (int j = 0; j < n; j++)
        start_sequence(w, w->rng_seqs, w->scratch[j], w->topic_list[j],
                       w->next_seq_id++);
}

/* State at step 0: a stationary draw of the drift, and for decode the
 * first population of sequences. */
static void init_state(workload *w)
{
    gsl_rng_set(w->rng_drift, seed_stream(w->seed, SEED_WORKLOAD_DRIFT, 0));
    gsl_rng_set(w->rng_seqs, seed_stream(w->seed, SEED_WORKLOAD_SEQS, 0));
    for (int k = 0; k < w->p.topics; k++)
        w->log_weight[k] =
            gsl_ran_gaussian_ziggurat(w->rng_drift, w->p.topic_sigma);
    update_weights(w);
    if (w->s.phase == WORKLOAD_DECODE) {
        const int S = w->s.sequences;
        draw_topics(w, w->rng_seqs, S);
        for (int i = 0; i < S; i++)
            start_sequence(w, w->rng_seqs, i, w->topic_list[i],
                           w->next_seq_id++);
    }
}

/* Draws the tokens of step `step` from its own stream. */
static void draw_tokens(workload *w, long step)
{
    const int T = w->s.tokens_per_step, S = w->s.sequences;
    const int D = w->dim, R = w->sem_dim;
    gsl_rng *r = w->rng_tokens;
    gsl_rng_set(r, seed_stream(w->seed, SEED_WORKLOAD_TOKENS, (uint64_t)step));

    if (w->s.phase != WORKLOAD_DECODE) {
        draw_topics(w, r, S);
        for (int i = 0; i < S; i++)
            start_sequence(w, r, i, w->topic_list[i],
                           (uint64_t)step * (uint64_t)S + (uint64_t)i);
    }

    const uint64_t V = (uint64_t)w->s.vocab;
    const double tok_sd = w->p.token_spread;
    for (int i = 0; i < S; i++) {
        int first = (int)((int64_t)i * T / S);
        int last = (int)((int64_t)(i + 1) * T / S);
        const float *m = w->seq_centroid + (size_t)i * (size_t)R;
        int k = w->seq_topic[i];
        for (int t = first; t < last; t++) {
            float *h = w->h + (size_t)t * (size_t)D;
            for (int j = 0; j < R; j++)
                h[j] = m[j] + (float)gsl_ran_gaussian_ziggurat(r, tok_sd);
            for (int j = R; j < D; j++)
                h[j] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
            uint64_t rank = gsl_ran_discrete(r, w->vocab_table);
            if (gsl_rng_uniform(r) < w->p.vocab_topic_share)
                rank = (w->vocab_mul[k] * rank + w->vocab_add[k]) % V;
            w->token_id[t] = (uint32_t)rank;
            w->token_seq[t] = w->seq_id[i];
            w->token_topic[t] = k;
        }
    }
}

/* ---- lifecycle --------------------------------------------------------- */

static int check_shape(const workload_shape *s, err_t *e)
{
    if (s->experts < 1 || s->experts > WORKLOAD_MAX_EXPERTS)
        return err_set(e, ERR_INPUT,
                       "workload: experts = %d; expected 1 to %d",
                       s->experts, WORKLOAD_MAX_EXPERTS);
    if (s->moe_layers < 1 || s->moe_layers > WORKLOAD_MAX_LAYERS)
        return err_set(e, ERR_INPUT,
                       "workload: moe_layers = %d; expected 1 to %d",
                       s->moe_layers, WORKLOAD_MAX_LAYERS);
    if (s->vocab < 1 || s->vocab > WORKLOAD_MAX_VOCAB)
        return err_set(e, ERR_INPUT, "workload: vocab = %d; expected 1 to %d",
                       s->vocab, WORKLOAD_MAX_VOCAB);
    if ((int)s->phase < 0 || s->phase >= WORKLOAD_PHASE_COUNT)
        return err_set(e, ERR_INPUT, "workload: phase %d is not a phase",
                       (int)s->phase);
    if (s->tokens_per_step < 1 || s->tokens_per_step > WORKLOAD_MAX_TOKENS)
        return err_set(e, ERR_INPUT,
                       "workload: tokens_per_step = %d; expected 1 to %d",
                       s->tokens_per_step, WORKLOAD_MAX_TOKENS);
    if (s->sequences < 1 || s->sequences > s->tokens_per_step)
        return err_set(e, ERR_INPUT,
                       "workload: sequences = %d; expected 1 to "
                       "tokens_per_step (%d)",
                       s->sequences, s->tokens_per_step);
    return 0;
}

/* Zipf table over ranks 0..V-1, weight (rank+1)^-s. The weight array is
 * needed only while gsl_ran_discrete_preproc builds its alias table. */
static gsl_ran_discrete_t *vocab_table(int V, double s)
{
    double *wt = malloc((size_t)V * sizeof *wt);
    if (!wt)
        return NULL;
    for (int i = 0; i < V; i++)
        wt[i] = pow((double)(i + 1), -s);
    gsl_ran_discrete_t *t = gsl_ran_discrete_preproc((size_t)V, wt);
    free(wt);
    return t;
}

int workload_create(const workload_params *p, const workload_shape *shape,
                    unsigned long seed, workload **out, err_t *e)
{
    int rc;
    *out = NULL;
    if ((rc = workload_params_check(p, e)) != 0 ||
        (rc = check_shape(shape, e)) != 0)
        return rc;

    workload *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(e, ERR_NOMEM, "workload: out of memory");
    w->p = *p;
    w->s = *shape;
    w->seed = seed;
    w->dim = p->route_dim;
    w->sem_dim = p->route_dim / 2;
    w->step = -1;

    const size_t D = (size_t)w->dim, R = (size_t)w->sem_dim;
    const size_t N = (size_t)shape->experts, L = (size_t)shape->moe_layers;
    const size_t K = (size_t)p->topics;
    const size_t S = (size_t)shape->sequences;
    const size_t T = (size_t)shape->tokens_per_step;
    w->router = malloc(L * D * N * sizeof *w->router);
    w->heat = malloc(L * sizeof *w->heat);
    w->dir = malloc(D * sizeof *w->dir);
    w->centroid = malloc(K * R * sizeof *w->centroid);
    w->log_weight = malloc(K * sizeof *w->log_weight);
    w->weights = malloc(K * sizeof *w->weights);
    w->counts = malloc(K * sizeof *w->counts);
    w->vocab_mul = malloc(K * sizeof *w->vocab_mul);
    w->vocab_add = malloc(K * sizeof *w->vocab_add);
    w->seq_topic = malloc(S * sizeof *w->seq_topic);
    w->seq_id = malloc(S * sizeof *w->seq_id);
    w->seq_centroid = malloc(S * R * sizeof *w->seq_centroid);
    w->scratch = malloc(S * sizeof *w->scratch);
    w->topic_list = malloc(S * sizeof *w->topic_list);
    w->h = malloc(T * D * sizeof *w->h);
    w->token_id = malloc(T * sizeof *w->token_id);
    w->token_seq = malloc(T * sizeof *w->token_seq);
    w->token_topic = malloc(T * sizeof *w->token_topic);
    w->rng_drift = rng_new();
    w->rng_seqs = rng_new();
    w->rng_tokens = rng_new();
    w->vocab_table = vocab_table(shape->vocab, p->vocab_zipf);
    if (!w->router || !w->heat || !w->dir || !w->centroid || !w->log_weight || !w->weights || !w->counts || !w->vocab_mul ||
        !w->vocab_add || !w->seq_topic || !w->seq_id || !w->seq_centroid ||
        !w->scratch || !w->topic_list || !w->h || !w->token_id ||
        !w->token_seq || !w->token_topic || !w->rng_drift || !w->rng_seqs ||
        !w->rng_tokens || !w->vocab_table) {
        rc = err_set(e, ERR_NOMEM,
                     "workload: out of memory for %zu layers x %zu x %zu "
                     "router matrices and %zu tokens",
                     L, D, N, T);
        goto fail;
    }

    /* rng_tokens doubles as the construction stream: it is re-seeded per
     * purpose here and per step later. */
    for (int l = 0; l < shape->moe_layers; l++)
        build_router(w, w->rng_tokens, l);
    build_topics(w, w->rng_tokens);
    init_state(w);

    *out = w;
    return 0;

fail:
    workload_destroy(w);
    return rc;
}

/* Whether w's tables are those p, shape and seed would build: everything
 * but the batch (tokens and sequences) must match. */
static int same_tables(const workload *w, const workload_params *p,
                       const workload_shape *shape, unsigned long seed)
{
    if (w->seed != seed || w->s.experts != shape->experts ||
        w->s.moe_layers != shape->moe_layers || w->s.vocab != shape->vocab ||
        w->s.phase != shape->phase)
        return 0;
    for (size_t i = 0; i < N_KNOBS; i++) {
        size_t n = knobs[i].is_int ? sizeof(int) : sizeof(double);
        if (memcmp((const char *)&w->p + knobs[i].offset,
                   (const char *)p + knobs[i].offset, n) != 0)
            return 0;
    }
    return 1;
}

int workload_recreate(workload **wp, const workload_params *p,
                      const workload_shape *shape, unsigned long seed,
                      err_t *e)
{
    workload *w = *wp;
    int rc;
    if (!w || !same_tables(w, p, shape, seed)) {
        workload_destroy(w);
        *wp = NULL;
        return workload_create(p, shape, seed, wp, e);
    }
    if ((rc = check_shape(shape, e)) != 0)
        goto fail;
    const size_t D = (size_t)w->dim, R = (size_t)w->sem_dim;
    const size_t S = (size_t)shape->sequences;
    const size_t T = (size_t)shape->tokens_per_step;
    /* realloc keeps the old block on failure; workload_destroy frees it */
#define RESIZE(f, n)                                                         \
    do {                                                                     \
        void *q_ = realloc(w->f, (n) * sizeof *w->f);                        \
        if (!q_) {                                                           \
            rc = err_set(e, ERR_NOMEM, "workload: out of memory for %zu "    \
                                       "tokens",                             \
                         T);                                                 \
            goto fail;                                                       \
        }                                                                    \
        w->f = q_;                                                           \
    } while (0)
    RESIZE(seq_topic, S);
    RESIZE(seq_id, S);
    RESIZE(seq_centroid, S * R);
    RESIZE(scratch, S);
    RESIZE(topic_list, S);
    RESIZE(h, T * D);
    RESIZE(token_id, T);
    RESIZE(token_seq, T);
    RESIZE(token_topic, T);
#undef RESIZE
    w->s = *shape;
    w->next_seq_id = 0;
    w->step = -1;
    init_state(w);
    return 0;
fail:
    workload_destroy(w);
    *wp = NULL;
    return rc;
}

void workload_destroy(workload *w)
{
    if (!w)
        return;
    gsl_ran_discrete_free(w->vocab_table);
    gsl_rng_free(w->rng_tokens);
    gsl_rng_free(w->rng_seqs);
    gsl_rng_free(w->rng_drift);
    free(w->token_topic);
    free(w->token_seq);
    free(w->token_id);
    free(w->h);
    free(w->topic_list);
    free(w->scratch);
    free(w->seq_centroid);
    free(w->seq_id);
    free(w->seq_topic);
    free(w->vocab_add);
    free(w->vocab_mul);
    free(w->counts);
    free(w->weights);
    free(w->log_weight);
    free(w->centroid);
    free(w->dir);
    free(w->heat);
    free(w->router);
    free(w);
}

int workload_step(workload *w, long step, err_t *e)
{
    if (step < 0 || step <= w->step)
        return err_set(e, ERR_SIM,
                       "workload: step %ld after step %ld; steps must "
                       "increase from 0",
                       step, w->step);
    for (long s = w->step < 0 ? 0 : w->step; s < step; s++) {
        advance_drift(w);
        advance_sequences(w);
    }
    draw_tokens(w, step);
    w->step = step;
    return 0;
}

long workload_current_step(const workload *w)
{
    return w->step;
}

int workload_logits(workload *w, int layer, float *logits_out, err_t *e)
{
    if (w->step < 0)
        return err_set(e, ERR_SIM, "workload: logits asked before any step");
    if (layer < 0 || layer >= w->s.moe_layers)
        return err_set(e, ERR_INPUT,
                       "workload: layer %d out of range; expected 0 to %d",
                       layer, w->s.moe_layers - 1);
    return router_logits(w->h, w->s.tokens_per_step, w->dim,
                         workload_router_matrix(w, layer), w->s.experts,
                         logits_out, e);
}

int workload_tokens(const workload *w) { return w->s.tokens_per_step; }
int workload_sequences(const workload *w) { return w->s.sequences; }
int workload_experts(const workload *w) { return w->s.experts; }
int workload_layers(const workload *w) { return w->s.moe_layers; }
int workload_dim(const workload *w) { return w->dim; }

const float *workload_hidden(const workload *w)
{
    return w->step < 0 ? NULL : w->h;
}

const uint32_t *workload_token_ids(const workload *w)
{
    return w->step < 0 ? NULL : w->token_id;
}

const uint64_t *workload_sequence_ids(const workload *w)
{
    return w->step < 0 ? NULL : w->token_seq;
}

const int *workload_token_topics(const workload *w)
{
    return w->step < 0 ? NULL : w->token_topic;
}

const float *workload_router_matrix(const workload *w, int layer)
{
    if (layer < 0 || layer >= w->s.moe_layers)
        return NULL;
    return w->router +
           (size_t)layer * (size_t)w->dim * (size_t)w->s.experts;
}

double workload_layer_heat(const workload *w, int layer)
{
    if (layer < 0 || layer >= w->s.moe_layers)
        return 0.0;
    return w->heat[layer];
}

const double *workload_topic_weights(const workload *w)
{
    return w->weights;
}
