#include "sim/exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net.h"

struct exchange {
    const scenario *s;
    net_t *net;
    int devices;
    double *link_bytes; /* summed over the run, net_links() entries */
};

void exchange_destroy(exchange *x)
{
    if (!x)
        return;
    net_destroy(x->net);
    free(x->link_bytes);
    free(x);
}

int exchange_create(const scenario *s, int devices, exchange **out, err_t *e)
{
    *out = NULL;
    const hw_node *n = &s->node;
    exchange *x = calloc(1, sizeof *x);
    if (!x)
        return err_set(e, ERR_NOMEM, "out of memory");
    x->s = s;
    x->devices = devices;
    net_params_t p;
    memset(&p, 0, sizeof p);
    p.devices = (uint32_t)devices;
    p.devices_per_node = (uint32_t)(n->devices < devices ? n->devices : devices);
    static const net_scaleup_kind_t kinds[HW_SCALEUP_COUNT] = {
        NET_SCALEUP_FULL_MESH, NET_SCALEUP_SWITCH, NET_SCALEUP_PCIE_HOST};
    p.scaleup = kinds[n->scaleup];
    p.scaleup_gbps = n->scaleup_gbps;
    p.scaleup_latency_us = n->scaleup_latency_us;
    p.span_nodes = (uint32_t)n->span_nodes;
    p.devices_per_link = (uint32_t)n->devices_per_link;
    /* Link names a reader of the results recognises. */
    p.scaleup_label = n->scaleup == HW_SCALEUP_FULL_MESH ? "hccs"
                      : n->scaleup == HW_SCALEUP_PCIE_HOST ? "pcie"
                      : n->span_nodes > 1                  ? "ub"
                                                           : "nvlink";
    if (n->scaleout == HW_SCALEOUT_FAT_TREE) {
        p.nic_gbps = n->nic_gbps;
        p.scaleout_latency_us = n->scaleout_latency_us;
        p.oversubscription = n->oversubscription;
        p.devices_per_leaf = (uint32_t)n->devices_per_leaf;
        /* GPU clusters cable one leaf per in-node index (rail-optimised);
         * Ascend CLOS fabrics hang consecutive NPUs on a leaf. */
        p.rail_aligned = n->scaleup == HW_SCALEUP_SWITCH && n->span_nodes == 1;
    }
    int rc = net_create(&x->net, &p, e);
    if (rc != 0) {
        err_prefix(e, s->node.path);
        exchange_destroy(x);
        return rc;
    }
    x->link_bytes = calloc(net_links(x->net), sizeof *x->link_bytes);
    if (!x->link_bytes) {
        exchange_destroy(x);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = x;
    return 0;
}

int exchange_run(exchange *x, const double *bytes, exchange_result *out,
                 err_t *e)
{
    net_result_t r;
    int rc = x->s->network == SCEN_NET_FLOW
                 ? net_exchange_flow(x->net, bytes, &r, NULL, e)
                 : net_exchange_analytic(x->net, bytes, &r, e);
    if (rc != 0)
        return rc;
    const double *lb = net_link_bytes(x->net);
    uint32_t nl = net_links(x->net);
    for (uint32_t i = 0; i < nl; i++)
        x->link_bytes[i] += lb[i];
    memset(out, 0, sizeof *out);
    /* An exchange that moves nothing costs nothing, not even launch
     * overhead: no collective is issued. */
    out->time_s = r.time_s > 0 ? r.time_s + x->s->node.device.comm_overhead_us * 1e-6
                               : 0;
    out->bytes_intra_node = r.bytes_intra_node;
    out->bytes_inter_node = r.bytes_inter_node;
    out->busiest_utilization = r.busiest_link >= 0 ? r.busiest_link_util : 0;
    if (r.busiest_link >= 0)
        snprintf(out->busiest_link, sizeof out->busiest_link, "%s",
                 r.busiest_link_name);
    return 0;
}

int exchange_dispatch_matrix(exchange *x, int tokens,
                             const uint32_t *token_src,
                             const uint32_t *dst_start,
                             const uint32_t *dst_dev, double bytes_per_token,
                             double *bytes, err_t *e)
{
    net_dispatch_mode_t mode = x->s->dispatch == SCEN_DISPATCH_NODE_LIMITED
                                   ? NET_DISPATCH_NODE_LIMITED
                                   : NET_DISPATCH_DIRECT;
    return net_dispatch_matrix(x->net, (uint32_t)tokens, token_src, dst_start,
                               dst_dev, bytes_per_token, mode, bytes, e);
}

int exchange_links(exchange *x, double total_a2a_s,
                   int (*fn)(void *ctx, const metrics_link *row), void *ctx,
                   err_t *e)
{
    (void)e;
    uint32_t nl = net_links(x->net);
    for (uint32_t i = 0; i < nl; i++) {
        if (x->link_bytes[i] <= 0)
            continue;
        metrics_link row;
        memset(&row, 0, sizeof row);
        net_link_name(x->net, i, row.name, sizeof row.name);
        row.bytes = x->link_bytes[i];
        row.busy_s = row.bytes / (net_link_gbps(x->net, i) * 1e9);
        row.utilization = total_a2a_s > 0 ? row.busy_s / total_a2a_s : 0;
        int rc = fn(ctx, &row);
        if (rc != 0)
            return rc;
    }
    return 0;
}
