/*
 * placement: experts -> slots -> devices, and EPLB.
 *
 * Storage: per layer, slot -> expert, slot -> device and slot -> replica
 * rank, plus the inverse as a CSR list (expert -> its slots in rank order).
 *
 * EPLB is a port of deepseek-ai/EPLB eplb.py (rebalance_experts with
 * balanced_packing, replicate_experts, rebalance_experts_hierarchical),
 * with the global policy calling the hierarchical one with one group and
 * one node, as the current eplb.py does (an older version called
 * replicate_experts alone and skipped the packing onto GPUs).
 *
 * Matching torch bit for bit:
 *  - Loads become float (weight.float()); every sum and quotient is done in
 *    float, as torch does on float32 tensors. Group sums are added left to
 *    right; torch's vectorised sum may round differently in the last bit for
 *    fractional loads (never for integer loads below 2^24, where every sum
 *    is exact).
 *  - replicate_experts: `(weight / logcnt).max(dim=-1).indices` returns the
 *    FIRST index of the maximum (torch.max documents it); we keep the first
 *    on ties (strict >).
 *  - balanced_packing: Python's min(..., key=pack_weights) returns the first
 *    (lowest-numbered) pack among equally loaded ones; we keep the first
 *    (strict <).
 *  - balanced_packing's `weight.sort(-1, descending=True)` is torch's
 *    default, unstable sort: on CPU it is std::sort, or x86-simd-sort on
 *    AVX2/AVX-512 builds, so the order of EQUAL loads is not defined by
 *    torch and differs between machines. We define it: descending load,
 *    equal loads in ascending index order, i.e. what torch.sort(...,
 *    stable=True) gives (and what libstdc++'s std::sort gives for rows of
 *    at most 16 items, where it is an insertion sort). Equal loads are
 *    common, not rare: the replicas of one expert all carry load/count. The
 *    README example (tests/unit/placement/test_eplb.c) depends on it and
 *    passes. The sort is gsl_heapsort over (load, index) pairs with a
 *    comparison that is a total order, so heapsort's own instability
 *    cannot show.
 */
#include "models/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_heapsort.h>

struct placement {
    placement_policy_t policy;
    uint32_t layers;
    uint32_t experts;
    uint32_t slots;            /* physical slots per layer */
    uint32_t devices;
    uint32_t devices_per_node;
    uint32_t slots_per_device;
    uint32_t *slot_expert;     /* [layers * slots] */
    uint32_t *slot_device;     /* [layers * slots] */
    uint32_t *slot_rank;       /* [layers * slots] replica rank of the slot */
    uint32_t *expert_first;    /* [layers * (experts + 1)] CSR offsets */
    uint32_t *expert_slots;    /* [layers * slots] slots by expert, rank */
    uint32_t *expert_by_slot;  /* [layers * slots] same, ascending slot */
};

/* ---- allocation and the inverse map -------------------------------- */

static int check_common(const char *who, uint32_t layers, uint32_t experts,
                        uint32_t devices, uint32_t devices_per_node,
                        err_t *e)
{
    if (layers == 0 || layers > PLACEMENT_MAX_LAYERS)
        return err_set(e, ERR_INPUT, "placement: %s: layers (%u) must be 1..%u",
                       who, layers, PLACEMENT_MAX_LAYERS);
    if (experts == 0 || experts > PLACEMENT_MAX_EXPERTS)
        return err_set(e, ERR_INPUT,
                       "placement: %s: experts (%u) must be 1..%u", who,
                       experts, PLACEMENT_MAX_EXPERTS);
    if (devices == 0 || devices > PLACEMENT_MAX_DEVICES)
        return err_set(e, ERR_INPUT,
                       "placement: %s: devices (%u) must be 1..%u", who,
                       devices, PLACEMENT_MAX_DEVICES);
    if (devices_per_node == 0 || devices % devices_per_node != 0)
        return err_set(e, ERR_INPUT,
                       "placement: %s: devices (%u) not divisible by devices "
                       "per node (%u)",
                       who, devices, devices_per_node);
    return 0;
}

/* Slots per layer: at least one per expert, the same number on every
 * device. */
static int check_slots(const char *who, uint32_t slots, uint32_t experts,
                       uint32_t devices, err_t *e)
{
    if (slots < experts)
        return err_set(e, ERR_INPUT,
                       "placement: %s: slots (%u) < experts (%u): every "
                       "expert needs at least one slot",
                       who, slots, experts);
    if (slots > PLACEMENT_MAX_SLOTS)
        return err_set(e, ERR_INPUT, "placement: %s: slots (%u) above %u",
                       who, slots, PLACEMENT_MAX_SLOTS);
    if (slots % devices != 0)
        return err_set(e, ERR_INPUT,
                       "placement: %s: slots (%u) not divisible by devices "
                       "(%u): every device holds the same number of slots",
                       who, slots, devices);
    return 0;
}

/* Index of the first load that is negative, infinite or NaN, else n. */
static size_t first_bad_load(const double *load_tokens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(load_tokens[i]) || load_tokens[i] < 0.0)
            return i;
    return n;
}

/* Allocates a placement with every table uninitialised. The caller fills
 * slot_expert, slot_device and slot_rank, then calls build_inverse. */
static int alloc_placement(placement_t **out, placement_policy_t policy,
                           uint32_t layers, uint32_t experts, uint32_t slots,
                           uint32_t devices, uint32_t devices_per_node,
                           err_t *e)
{
    placement_t *p = calloc(1, sizeof *p);
    if (!p)
        goto fail;
    p->policy = policy;
    p->layers = layers;
    p->experts = experts;
    p->slots = slots;
    p->devices = devices;
    p->devices_per_node = devices_per_node;
    p->slots_per_device = slots / devices;
    size_t n = (size_t)layers * slots;
    p->slot_expert = malloc(n * sizeof *p->slot_expert);
    p->slot_device = malloc(n * sizeof *p->slot_device);
    p->slot_rank = malloc(n * sizeof *p->slot_rank);
    p->expert_slots = malloc(n * sizeof *p->expert_slots);
    p->expert_by_slot = malloc(n * sizeof *p->expert_by_slot);
    p->expert_first = malloc((size_t)layers * (experts + 1u) *
                             sizeof *p->expert_first);
    if (!p->slot_expert || !p->slot_device || !p->slot_rank ||
        !p->expert_slots || !p->expert_by_slot || !p->expert_first)
        goto fail;
    *out = p;
    return 0;
fail:
    placement_destroy(p);
    return err_set(e, ERR_NOMEM, "placement: out of memory for %u layers x "
                   "%u slots", layers, slots);
}

/* Builds expert -> slots from slot -> (expert, rank), in rank order and in
 * ascending slot order. Every expert needs a slot (checked: table
 * placements come from files); the ranks of each expert are 0..count-1,
 * each once, by construction in every caller. */
static int build_inverse(placement_t *p, err_t *e)
{
    int rc = 0;
    uint32_t *cursor = malloc(p->experts * sizeof *cursor);
    if (!cursor)
        return err_set(e, ERR_NOMEM, "placement: out of memory");
    for (uint32_t l = 0; l < p->layers; l++) {
        const uint32_t *se = p->slot_expert + (size_t)l * p->slots;
        const uint32_t *sr = p->slot_rank + (size_t)l * p->slots;
        uint32_t *first = p->expert_first + (size_t)l * (p->experts + 1u);
        uint32_t *slots = p->expert_slots + (size_t)l * p->slots;
        uint32_t *by_slot = p->expert_by_slot + (size_t)l * p->slots;
        memset(first, 0, (p->experts + 1u) * sizeof *first);
        for (uint32_t s = 0; s < p->slots; s++)
            first[se[s] + 1u]++;
        for (uint32_t x = 0; x < p->experts; x++) {
            if (first[x + 1u] == 0) {
                rc = err_set(e, ERR_INPUT,
                             "placement: layer %u: expert %u has no slot", l,
                             x);
                goto fail;
            }
            first[x + 1u] += first[x];
        }
        for (uint32_t s = 0; s < p->slots; s++) {
            uint32_t x = se[s];
            MOESIM_ASSERT(sr[s] < first[x + 1u] - first[x]);
            slots[first[x] + sr[s]] = s;
        }
        /* Ascending slot order: one counting-sort pass in slot order. */
        memcpy(cursor, first, p->experts * sizeof *cursor);
        for (uint32_t s = 0; s < p->slots; s++)
            by_slot[cursor[se[s]]++] = s;
    }
fail:
    free(cursor);
    return rc;
}

void placement_destroy(placement_t *p)
{
    if (!p)
        return;
    free(p->expert_first);
    free(p->expert_by_slot);
    free(p->expert_slots);
    free(p->slot_rank);
    free(p->slot_device);
    free(p->slot_expert);
    free(p);
}

/* ---- contiguous and grouped ------------------------------------------ */

/* One slot per expert, expert e in slot e on device e / (experts/devices). */
static int create_one_per_expert(placement_t **out, placement_policy_t pol,
                                 uint32_t layers, uint32_t experts,
                                 uint32_t devices, uint32_t devices_per_node,
                                 err_t *e)
{
    placement_t *p = NULL;
    int rc = alloc_placement(&p, pol, layers, experts, experts, devices,
                             devices_per_node, e);
    if (rc < 0)
        return rc;
    uint32_t per_device = experts / devices;
    for (uint32_t l = 0; l < layers; l++) {
        for (uint32_t s = 0; s < experts; s++) {
            size_t i = (size_t)l * experts + s;
            p->slot_expert[i] = s;
            p->slot_device[i] = s / per_device;
            p->slot_rank[i] = 0;
        }
    }
    rc = build_inverse(p, e);
    if (rc < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    placement_destroy(p);
    return rc;
}

int placement_create_contiguous(placement_t **out, uint32_t layers,
                                uint32_t experts, uint32_t devices,
                                uint32_t devices_per_node, err_t *e)
{
    int rc = check_common("contiguous", layers, experts, devices,
                          devices_per_node, e);
    if (rc < 0)
        return rc;
    if (experts % devices != 0)
        return err_set(e, ERR_INPUT,
                       "placement: contiguous: experts (%u) not divisible by "
                       "devices (%u)",
                       experts, devices);
    return create_one_per_expert(out, PLACEMENT_CONTIGUOUS, layers, experts,
                                 devices, devices_per_node, e);
}

int placement_create_grouped(placement_t **out, uint32_t layers,
                             uint32_t experts, uint32_t groups,
                             uint32_t devices, uint32_t devices_per_node,
                             err_t *e)
{
    int rc = check_common("grouped", layers, experts, devices,
                          devices_per_node, e);
    if (rc < 0)
        return rc;
    if (groups == 0 || experts % groups != 0)
        return err_set(e, ERR_INPUT,
                       "placement: grouped: experts (%u) not divisible by "
                       "groups (%u)",
                       experts, groups);
    if (groups != devices)
        return err_set(e, ERR_INPUT,
                       "placement: grouped: groups (%u) must equal devices "
                       "(%u): MoGE puts one whole group on each device",
                       groups, devices);
    return create_one_per_expert(out, PLACEMENT_GROUPED, layers, experts,
                                 devices, devices_per_node, e);
}

/* ---- EPLB ------------------------------------------------------------ */

typedef struct weighted_item {
    float load;
    uint32_t index;
} weighted_item_t;

/* Descending load; equal loads by ascending index (see the top comment). */
static int cmp_load_desc(const void *a, const void *b)
{
    const weighted_item_t *x = a;
    const weighted_item_t *y = b;
    if (x->load > y->load)
        return -1;
    if (x->load < y->load)
        return 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Scratch for one layer's EPLB, sized once per call. */
typedef struct eplb_scratch {
    weighted_item_t *order;  /* [max(groups, phys_per_node)] */
    float *pack_load;        /* [max(nodes, gpus_per_node)] */
    uint32_t *pack_items;    /* [max(nodes, gpus_per_node)] */
    float *group_load;       /* [groups] */
    uint32_t *group_pack;    /* [groups] */
    uint32_t *group_rank;    /* [groups] */
    uint32_t *log2mlog;      /* [experts] */
    uint32_t *mlog2log;      /* [experts] */
    uint32_t *mlog_count;    /* [experts] replicas of each node-local expert */
    float *mlog_load;        /* [experts / nodes] */
    uint32_t *phy2mlog;      /* [phys_per_node] */
    uint32_t *phy_rank;      /* [phys_per_node] */
    float *phy_load;         /* [phys_per_node] */
    uint32_t *phy_pack;      /* [phys_per_node] */
    uint32_t *phy_pack_rank; /* [phys_per_node] */
    uint32_t *pphy2phy;      /* [phys_per_node] */
} eplb_scratch_t;

/* eplb.py balanced_packing for one row: n items into `packs` packs of n/packs
 * items each, heaviest item first into the lightest pack that has room. */
static void balanced_packing(const float *load, uint32_t n, uint32_t packs,
                             uint32_t *pack_index, uint32_t *rank_in_pack,
                             eplb_scratch_t *s)
{
    uint32_t per_pack = n / packs;
    if (per_pack == 1) {
        for (uint32_t i = 0; i < n; i++) {
            pack_index[i] = i;
            rank_in_pack[i] = 0;
        }
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->order[i].load = load[i];
        s->order[i].index = i;
    }
    gsl_heapsort(s->order, n, sizeof *s->order, cmp_load_desc);
    for (uint32_t k = 0; k < packs; k++) {
        s->pack_load[k] = 0.0f;
        s->pack_items[k] = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t item = s->order[i].index;
        uint32_t best = UINT32_MAX;
        for (uint32_t k = 0; k < packs; k++) {
            if (s->pack_items[k] >= per_pack)
                continue;
            if (best == UINT32_MAX || s->pack_load[k] < s->pack_load[best])
                best = k;
        }
        MOESIM_ASSERT(best != UINT32_MAX);
        pack_index[item] = best;
        rank_in_pack[item] = s->pack_items[best];
        s->pack_load[best] += load[item];
        s->pack_items[best]++;
    }
}

/* eplb.py replicate_experts for one row: n_log experts to n_phy replicas,
 * each extra replica to the expert with the largest load per replica. */
static void replicate_experts(const float *load, uint32_t n_log,
                              uint32_t n_phy, uint32_t *phy2log,
                              uint32_t *rank, uint32_t *logcnt)
{
    for (uint32_t i = 0; i < n_log; i++) {
        phy2log[i] = i;
        rank[i] = 0;
        logcnt[i] = 1;
    }
    for (uint32_t i = n_log; i < n_phy; i++) {
        uint32_t best = 0;
        float best_load = load[0] / (float)logcnt[0];
        for (uint32_t j = 1; j < n_log; j++) {
            float v = load[j] / (float)logcnt[j];
            if (v > best_load) {
                best = j;
                best_load = v;
            }
        }
        phy2log[i] = best;
        rank[i] = logcnt[best];
        logcnt[best]++;
    }
}

/* eplb.py rebalance_experts_hierarchical for one layer. Writes the layer's
 * slot_expert and slot_rank rows (slot = physical expert index). */
static void eplb_layer(const float *load, uint32_t experts, uint32_t slots,
                       uint32_t groups, uint32_t nodes, uint32_t gpus,
                       uint32_t *slot_expert, uint32_t *slot_rank,
                       eplb_scratch_t *s)
{
    uint32_t group_size = experts / groups;
    uint32_t groups_per_node = groups / nodes;
    uint32_t log_per_node = experts / nodes;
    uint32_t phy_per_node = slots / nodes;
    uint32_t phy_per_gpu = slots / gpus;
    uint32_t gpus_per_node = gpus / nodes;

    /* Step 1: pack groups onto nodes. */
    for (uint32_t g = 0; g < groups; g++) {
        float sum = 0.0f;
        for (uint32_t j = 0; j < group_size; j++)
            sum += load[g * group_size + j];
        s->group_load[g] = sum;
    }
    balanced_packing(s->group_load, groups, nodes, s->group_pack,
                     s->group_rank, s);
    for (uint32_t g = 0; g < groups; g++) {
        uint32_t base = (s->group_pack[g] * groups_per_node +
                         s->group_rank[g]) * group_size;
        for (uint32_t j = 0; j < group_size; j++)
            s->log2mlog[g * group_size + j] = base + j;
    }
    for (uint32_t x = 0; x < experts; x++)
        s->mlog2log[s->log2mlog[x]] = x;

    for (uint32_t n = 0; n < nodes; n++) {
        /* Step 2: replicate inside the node. */
        for (uint32_t m = 0; m < log_per_node; m++)
            s->mlog_load[m] = load[s->mlog2log[n * log_per_node + m]];
        uint32_t *mlogcnt = s->mlog_count + n * log_per_node;
        replicate_experts(s->mlog_load, log_per_node, phy_per_node,
                          s->phy2mlog, s->phy_rank, mlogcnt);

        /* Step 3: pack the node's replicas onto its GPUs. */
        for (uint32_t q = 0; q < phy_per_node; q++) {
            uint32_t m = s->phy2mlog[q];
            s->phy_load[q] = s->mlog_load[m] / (float)mlogcnt[m];
        }
        balanced_packing(s->phy_load, phy_per_node, gpus_per_node,
                         s->phy_pack, s->phy_pack_rank, s);
        for (uint32_t q = 0; q < phy_per_node; q++)
            s->pphy2phy[s->phy_pack[q] * phy_per_gpu + s->phy_pack_rank[q]] = q;
        for (uint32_t q = 0; q < phy_per_node; q++) {
            uint32_t phy = s->pphy2phy[q];
            uint32_t mlog = s->phy2mlog[phy] + n * log_per_node;
            slot_expert[n * phy_per_node + q] = s->mlog2log[mlog];
            slot_rank[n * phy_per_node + q] = s->phy_rank[phy];
        }
    }
}

static void eplb_scratch_free(eplb_scratch_t *s)
{
    free(s->pphy2phy);
    free(s->phy_pack_rank);
    free(s->phy_pack);
    free(s->phy_load);
    free(s->phy_rank);
    free(s->phy2mlog);
    free(s->mlog_load);
    free(s->mlog_count);
    free(s->mlog2log);
    free(s->log2mlog);
    free(s->group_rank);
    free(s->group_pack);
    free(s->group_load);
    free(s->pack_items);
    free(s->pack_load);
    free(s->order);
}

/* Sizes s for one layer; on failure the caller still frees s (every
 * pointer is either allocated or NULL). */
static int eplb_scratch_alloc(eplb_scratch_t *s, uint32_t experts,
                              uint32_t slots, uint32_t groups, uint32_t nodes,
                              uint32_t gpus)
{
    size_t ppn = slots / nodes;
    size_t packs = nodes > gpus / nodes ? nodes : gpus / nodes;
    size_t items = groups > ppn ? groups : ppn;
    s->order = malloc(items * sizeof *s->order);
    s->pack_load = malloc(packs * sizeof *s->pack_load);
    s->pack_items = malloc(packs * sizeof *s->pack_items);
    s->group_load = malloc(groups * sizeof *s->group_load);
    s->group_pack = malloc(groups * sizeof *s->group_pack);
    s->group_rank = malloc(groups * sizeof *s->group_rank);
    s->log2mlog = malloc(experts * sizeof *s->log2mlog);
    s->mlog2log = malloc(experts * sizeof *s->mlog2log);
    s->mlog_count = malloc(experts * sizeof *s->mlog_count);
    s->mlog_load = malloc(experts / nodes * sizeof *s->mlog_load);
    s->phy2mlog = malloc(ppn * sizeof *s->phy2mlog);
    s->phy_rank = malloc(ppn * sizeof *s->phy_rank);
    s->phy_load = malloc(ppn * sizeof *s->phy_load);
    s->phy_pack = malloc(ppn * sizeof *s->phy_pack);
    s->phy_pack_rank = malloc(ppn * sizeof *s->phy_pack_rank);
    s->pphy2phy = malloc(ppn * sizeof *s->pphy2phy);
    if (!s->order || !s->pack_load || !s->pack_items || !s->group_load ||
        !s->group_pack || !s->group_rank || !s->log2mlog || !s->mlog2log ||
        !s->mlog_count || !s->mlog_load || !s->phy2mlog || !s->phy_rank ||
        !s->phy_load || !s->phy_pack || !s->phy_pack_rank || !s->pphy2phy)
        return ERR_NOMEM;
    return 0;
}

int placement_create_eplb(placement_t **out, const double *load_tokens,
                          uint32_t layers, uint32_t experts, uint32_t slots,
                          uint32_t groups, uint32_t nodes, uint32_t devices,
                          err_t *e)
{
    placement_t *p = NULL;
    float *row = NULL;
    eplb_scratch_t s = {0};
    int rc;

    if (nodes == 0)
        return err_set(e, ERR_INPUT, "placement: eplb: nodes must be >= 1");
    if (devices % nodes != 0)
        return err_set(e, ERR_INPUT,
                       "placement: eplb: devices (%u) not divisible by nodes "
                       "(%u)",
                       devices, nodes);
    rc = check_common("eplb", layers, experts, devices, devices / nodes, e);
    if (rc < 0)
        return rc;
    if (groups == 0 || experts % groups != 0)
        return err_set(e, ERR_INPUT,
                       "placement: eplb: experts (%u) not divisible by groups "
                       "(%u)",
                       experts, groups);
    if ((rc = check_slots("eplb", slots, experts, devices, e)) < 0)
        return rc;
    if (!load_tokens)
        return err_set(e, ERR_INPUT, "placement: eplb: no load given");
    size_t bad = first_bad_load(load_tokens, (size_t)layers * experts);
    if (bad < (size_t)layers * experts)
        return err_set(e, ERR_INPUT,
                       "placement: eplb: load of layer %zu expert %zu is %g; "
                       "loads must be finite and >= 0",
                       bad / experts, bad % experts, load_tokens[bad]);

    /* eplb.py: hierarchical when groups % nodes == 0, else global. */
    uint32_t use_groups = groups, use_nodes = nodes;
    if (groups % nodes != 0) {
        use_groups = 1;
        use_nodes = 1;
    }

    rc = alloc_placement(&p, PLACEMENT_EPLB, layers, experts, slots, devices,
                         devices / nodes, e);
    if (rc < 0)
        return rc;
    row = malloc(experts * sizeof *row);
    if (!row || eplb_scratch_alloc(&s, experts, slots, use_groups, use_nodes,
                                   devices) < 0) {
        rc = err_set(e, ERR_NOMEM, "placement: eplb: out of memory");
        goto fail;
    }

    for (uint32_t l = 0; l < layers; l++) {
        for (uint32_t x = 0; x < experts; x++)
            row[x] = (float)load_tokens[(size_t)l * experts + x];
        size_t base = (size_t)l * slots;
        eplb_layer(row, experts, slots, use_groups, use_nodes, devices,
                   p->slot_expert + base, p->slot_rank + base, &s);
        for (uint32_t q = 0; q < slots; q++)
            p->slot_device[base + q] = q / p->slots_per_device;
    }
    rc = build_inverse(p, e);
    if (rc < 0)
        goto fail;
    eplb_scratch_free(&s);
    free(row);
    *out = p;
    return 0;
fail:
    eplb_scratch_free(&s);
    free(row);
    placement_destroy(p);
    return rc;
}

/* ---- from tables ----------------------------------------------------- */

int placement_create_table(placement_t **out, uint32_t layers,
                           uint32_t experts, uint32_t slots, uint32_t devices,
                           uint32_t devices_per_node,
                           const uint16_t *slot_expert,
                           const uint16_t *slot_device, err_t *e)
{
    placement_t *p = NULL;
    uint32_t *per_device = NULL;
    uint32_t *seen = NULL;
    int rc = check_common("table", layers, experts, devices, devices_per_node,
                          e);
    if (rc < 0)
        return rc;
    if ((rc = check_slots("table", slots, experts, devices, e)) < 0)
        return rc;
    rc = alloc_placement(&p, PLACEMENT_TABLE, layers, experts, slots, devices,
                         devices_per_node, e);
    if (rc < 0)
        return rc;
    per_device = calloc(devices, sizeof *per_device);
    seen = calloc(experts, sizeof *seen);
    if (!per_device || !seen) {
        rc = err_set(e, ERR_NOMEM, "placement: table: out of memory");
        goto fail;
    }
    for (uint32_t l = 0; l < layers; l++) {
        memset(per_device, 0, devices * sizeof *per_device);
        memset(seen, 0, experts * sizeof *seen);
        for (uint32_t q = 0; q < slots; q++) {
            size_t i = (size_t)l * slots + q;
            if (slot_expert[i] >= experts || slot_device[i] >= devices) {
                rc = err_set(e, ERR_INPUT,
                             "placement: table: layer %u slot %u: expert %u / "
                             "device %u out of range (%u experts, %u devices)",
                             l, q, slot_expert[i], slot_device[i], experts,
                             devices);
                goto fail;
            }
            p->slot_expert[i] = slot_expert[i];
            p->slot_device[i] = slot_device[i];
            /* Replica rank = order of appearance among the expert's slots. */
            p->slot_rank[i] = seen[slot_expert[i]]++;
            per_device[slot_device[i]]++;
        }
        for (uint32_t d = 0; d < devices; d++) {
            if (per_device[d] != p->slots_per_device) {
                rc = err_set(e, ERR_INPUT,
                             "placement: table: layer %u: device %u holds %u "
                             "slots, expected %u on every device",
                             l, d, per_device[d], p->slots_per_device);
                goto fail;
            }
        }
    }
    rc = build_inverse(p, e);
    if (rc < 0)
        goto fail;
    free(seen);
    free(per_device);
    *out = p;
    return 0;
fail:
    free(seen);
    free(per_device);
    placement_destroy(p);
    return rc;
}

/* ---- getters --------------------------------------------------------- */

placement_policy_t placement_policy(const placement_t *p) { return p->policy; }
uint32_t placement_layers(const placement_t *p) { return p->layers; }
uint32_t placement_experts(const placement_t *p) { return p->experts; }
uint32_t placement_slots(const placement_t *p) { return p->slots; }
uint32_t placement_devices(const placement_t *p) { return p->devices; }
uint32_t placement_slots_per_device(const placement_t *p)
{
    return p->slots_per_device;
}
uint32_t placement_devices_per_node(const placement_t *p)
{
    return p->devices_per_node;
}
uint32_t placement_nodes(const placement_t *p)
{
    return p->devices / p->devices_per_node;
}

const char *placement_policy_name(placement_policy_t policy)
{
    switch (policy) {
    case PLACEMENT_CONTIGUOUS:
        return "contiguous";
    case PLACEMENT_GROUPED:
        return "grouped";
    case PLACEMENT_EPLB:
        return "eplb";
    case PLACEMENT_TABLE:
        return "table";
    }
    return "unknown";
}

uint32_t placement_slot_expert(const placement_t *p, uint32_t layer,
                               uint32_t slot)
{
    MOESIM_ASSERT(layer < p->layers && slot < p->slots);
    return p->slot_expert[(size_t)layer * p->slots + slot];
}

uint32_t placement_slot_device(const placement_t *p, uint32_t layer,
                               uint32_t slot)
{
    MOESIM_ASSERT(layer < p->layers && slot < p->slots);
    return p->slot_device[(size_t)layer * p->slots + slot];
}

uint32_t placement_replicas(const placement_t *p, uint32_t layer,
                            uint32_t expert)
{
    MOESIM_ASSERT(layer < p->layers && expert < p->experts);
    const uint32_t *first = p->expert_first + (size_t)layer * (p->experts + 1u);
    return first[expert + 1u] - first[expert];
}

uint32_t placement_replica_slot(const placement_t *p, uint32_t layer,
                                uint32_t expert, uint32_t rank)
{
    MOESIM_ASSERT(rank < placement_replicas(p, layer, expert));
    const uint32_t *first = p->expert_first + (size_t)layer * (p->experts + 1u);
    return p->expert_slots[(size_t)layer * p->slots + first[expert] + rank];
}

uint32_t placement_pick_slot(const placement_t *p, uint32_t layer,
                             uint32_t expert, uint64_t token_index,
                             uint32_t src_device)
{
    MOESIM_ASSERT(layer < p->layers && expert < p->experts);
    MOESIM_ASSERT(src_device < p->devices);
    const uint32_t *first = p->expert_first + (size_t)layer * (p->experts + 1u);
    const uint32_t *slots = p->expert_by_slot + (size_t)layer * p->slots +
                            first[expert];
    const uint32_t *dev = p->slot_device + (size_t)layer * p->slots;
    uint32_t count = first[expert + 1u] - first[expert];
    uint32_t src_node = src_device / p->devices_per_node;
    uint32_t on_device = 0, on_node = 0;

    if (count == 1)
        return slots[0];
    for (uint32_t r = 0; r < count; r++) {
        uint32_t d = dev[slots[r]];
        on_device += d == src_device;
        on_node += d / p->devices_per_node == src_node;
    }
    /* class 0: same device, 1: same node, 2: anywhere */
    int cls = on_device ? 0 : on_node ? 1 : 2;
    uint32_t n = cls == 0 ? on_device : cls == 1 ? on_node : count;
    uint32_t want = (uint32_t)(token_index % n);
    for (uint32_t r = 0; r < count; r++) {
        uint32_t d = dev[slots[r]];
        int match = cls == 0   ? d == src_device
                    : cls == 1 ? d / p->devices_per_node == src_node
                               : 1;
        if (match && want-- == 0)
            return slots[r];
    }
    MOESIM_ASSERT(!"unreachable: candidate count changed");
    return 0;
}

/* ---- load estimate --------------------------------------------------- */

struct placement_load {
    uint32_t layers;
    uint32_t experts;
    double decay;          /* 1 - alpha */
    double weight_sum;     /* sum of decay^(t-s) over observed steps */
    uint64_t steps;
    double *sum_tokens;    /* [layers * experts] decayed sums */
    double *estimate;      /* [layers * experts] sum_tokens / weight_sum */
};

int placement_load_create(placement_load_t **out, uint32_t layers,
                          uint32_t experts, uint32_t window_steps, err_t *e)
{
    if (layers == 0 || layers > PLACEMENT_MAX_LAYERS || experts == 0 ||
        experts > PLACEMENT_MAX_EXPERTS)
        return err_set(e, ERR_INPUT,
                       "placement: load: layers (%u) must be 1..%u and "
                       "experts (%u) 1..%u",
                       layers, PLACEMENT_MAX_LAYERS, experts,
                       PLACEMENT_MAX_EXPERTS);
    if (window_steps == 0)
        window_steps = PLACEMENT_LOAD_WINDOW_STEPS_DEFAULT;
    placement_load_t *l = calloc(1, sizeof *l);
    if (!l)
        goto fail;
    l->layers = layers;
    l->experts = experts;
    l->decay = 1.0 - 2.0 / ((double)window_steps + 1.0);
    size_t n = (size_t)layers * experts;
    l->sum_tokens = calloc(n, sizeof *l->sum_tokens);
    l->estimate = calloc(n, sizeof *l->estimate);
    if (!l->sum_tokens || !l->estimate)
        goto fail;
    *out = l;
    return 0;
fail:
    placement_load_destroy(l);
    return err_set(e, ERR_NOMEM, "placement: load: out of memory");
}

void placement_load_destroy(placement_load_t *l)
{
    if (!l)
        return;
    free(l->estimate);
    free(l->sum_tokens);
    free(l);
}

int placement_load_observe(placement_load_t *l, const double *load_tokens,
                           err_t *e)
{
    size_t n = (size_t)l->layers * l->experts;
    size_t bad = first_bad_load(load_tokens, n);
    if (bad < n)
        return err_set(e, ERR_INPUT,
                       "placement: load: step %llu layer %zu expert %zu has "
                       "load %g; loads must be finite and >= 0",
                       (unsigned long long)l->steps, bad / l->experts,
                       bad % l->experts, load_tokens[bad]);
    l->weight_sum = l->weight_sum * l->decay + 1.0;
    for (size_t i = 0; i < n; i++) {
        l->sum_tokens[i] = l->sum_tokens[i] * l->decay + load_tokens[i];
        l->estimate[i] = l->sum_tokens[i] / l->weight_sum;
    }
    l->steps++;
    return 0;
}

uint64_t placement_load_steps(const placement_load_t *l) { return l->steps; }

const double *placement_load_estimate(const placement_load_t *l)
{
    return l->estimate;
}

int placement_load_rebalance(const placement_load_t *l, uint32_t slots,
                             uint32_t groups, uint32_t nodes,
                             uint32_t devices, placement_t **out, err_t *e)
{
    return placement_create_eplb(out, l->estimate, l->layers, l->experts,
                                 slots, groups, nodes, devices, e);
}
