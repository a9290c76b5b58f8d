/*
 * net: link numbering, routes, and the two exchange fidelities.
 *
 * Links are numbered by arithmetic, not stored: a block per kind, in this
 * order (blocks absent for the topology are empty):
 *   mesh       node * d(d-1) + i * (d-1) + (j < i ? j : j - 1), for the
 *              pair (i -> j) of in-node indices, d devices per node
 *   switch     up then down, one per device
 *   pcie       up then down, one per host link (devices_per_link devices)
 *   nic        up then down, one per device
 *   leaf       up (leaf to spine) then down, one per leaf, only when there
 *              is more than one leaf
 * so a route is computed in O(1) and a topology of any size costs a few
 * numbers. Per exchange the scratch arrays are O(devices^2) at most.
 */
#include "sim/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_LABEL_MAX 16

struct net {
    uint32_t n, dpn, nodes;
    net_scaleup_kind_t kind;
    uint32_t span;    /* nodes per super-node (switch) */
    uint32_t dpl;     /* devices per host link (PCIe) */
    uint32_t n_host;  /* host links */
    bool scaleout;
    uint32_t dpleaf, leaves, leaves_per_rail;
    bool rail;
    double scaleup_bps, nic_bps, leaf_bps;
    double scaleup_lat_s, scaleout_lat_s, hop_lat_s;
    char label[NET_LABEL_MAX];

    uint32_t base_mesh, base_sw, base_pcie, base_nic, base_leaf, n_links;

    /* exchange scratch (grown on demand) */
    size_t cap_flows;
    uint32_t *flow_pair;   /* src * n + dst of each flow */
    uint32_t *path_start;  /* n_flows + 1 */
    uint32_t *path_link;   /* NET_PATH_MAX * n_flows */
    double *flow_bytes, *flow_lat_s, *flow_finish_s;
    double *link_bytes;    /* n_links */
    double *link_bps;      /* n_links */
    maxmin_t *mm;
};

/* ---- construction -------------------------------------------------------- */

static int bad(err_t *err, const char *what, double v, const char *why)
{
    return err_set(err, ERR_INPUT, "net: %s = %g: %s", what, v, why);
}

static bool pos_finite(double v) { return v > 0.0 && isfinite(v); }
static bool nonneg_finite(double v) { return v >= 0.0 && isfinite(v); }

static int check_params(const net_params_t *p, err_t *err)
{
    if (p->devices < 1 || p->devices > NET_MAX_DEVICES)
        return bad(err, "devices", p->devices, "must be 1..16384");
    if (p->devices_per_node < 1 || p->devices % p->devices_per_node)
        return bad(err, "devices_per_node", p->devices_per_node,
                   "must be at least 1 and divide devices");
    if (p->scaleup != NET_SCALEUP_FULL_MESH &&
        p->scaleup != NET_SCALEUP_SWITCH &&
        p->scaleup != NET_SCALEUP_PCIE_HOST)
        return bad(err, "scaleup", (double)p->scaleup, "unknown kind");
    bool has_scaleup =
        p->devices_per_node > 1 ||
        (p->scaleup == NET_SCALEUP_SWITCH && p->span_nodes > 1);
    if (has_scaleup && !pos_finite(p->scaleup_gbps))
        return bad(err, "scaleup_gbps", p->scaleup_gbps,
                   "must be a positive number");
    if (!nonneg_finite(p->scaleup_latency_us))
        return bad(err, "scaleup_latency_us", p->scaleup_latency_us,
                   "must be >= 0");
    if (p->scaleup == NET_SCALEUP_PCIE_HOST && p->devices_per_link > 1 &&
        p->devices_per_node % p->devices_per_link)
        return bad(err, "devices_per_link", p->devices_per_link,
                   "must divide devices_per_node");
    if (!isfinite(p->flow_window))
        return bad(err, "flow_window", p->flow_window,
                   "must be a number (0: default, < 0: exact)");
    if (!nonneg_finite(p->nic_gbps))
        return bad(err, "nic_gbps", p->nic_gbps, "must be >= 0");
    if (p->nic_gbps > 0.0) {
        if (!nonneg_finite(p->scaleout_latency_us))
            return bad(err, "scaleout_latency_us", p->scaleout_latency_us,
                       "must be >= 0");
        if (!nonneg_finite(p->hop_latency_us))
            return bad(err, "hop_latency_us", p->hop_latency_us,
                       "must be >= 0");
        if (p->oversubscription != 0.0 &&
            !(p->oversubscription >= 1.0 && isfinite(p->oversubscription)))
            return bad(err, "oversubscription", p->oversubscription,
                       "must be >= 1 (1 = non-blocking)");
    }
    uint32_t nodes = p->devices / p->devices_per_node;
    uint32_t span = p->span_nodes > 1 ? p->span_nodes : 1;
    bool one_fabric = nodes == 1 ||
                      (p->scaleup == NET_SCALEUP_SWITCH && span >= nodes);
    if (p->nic_gbps == 0.0 && !one_fabric)
        return err_set(err, ERR_INPUT,
                       "net: %u nodes but no network between them: set "
                       "nic_gbps, or a switch scale-up with span_nodes >= %u",
                       nodes, nodes);
    return 0;
}

int net_create(net_t **out, const net_params_t *p, err_t *err)
{
    *out = NULL;
    int rc = check_params(p, err);
    if (rc)
        return rc;
    net_t *net = calloc(1, sizeof *net);
    if (!net)
        goto nomem;
    net->n = p->devices;
    net->dpn = p->devices_per_node;
    net->nodes = net->n / net->dpn;
    net->kind = p->scaleup;
    net->span = p->scaleup == NET_SCALEUP_SWITCH && p->span_nodes > 1
                    ? p->span_nodes
                    : 1;
    net->dpl = p->scaleup == NET_SCALEUP_PCIE_HOST && p->devices_per_link > 1
                   ? p->devices_per_link
                   : 1;
    net->scaleup_bps = p->scaleup_gbps * 1e9;
    net->scaleup_lat_s = p->scaleup_latency_us * 1e-6;
    const char *dflt[] = {"mesh", "switch", "pcie"};
    snprintf(net->label, sizeof net->label, "%s",
             p->scaleup_label && p->scaleup_label[0] ? p->scaleup_label
                                                     : dflt[p->scaleup]);
    net->scaleout = p->nic_gbps > 0.0;
    if (net->scaleout) {
        net->nic_bps = p->nic_gbps * 1e9;
        net->scaleout_lat_s = p->scaleout_latency_us * 1e-6;
        net->hop_lat_s = p->hop_latency_us * 1e-6;
        net->rail = p->rail_aligned && net->dpn > 1 && p->devices_per_leaf;
        uint32_t ports = p->devices_per_leaf ? p->devices_per_leaf : net->n;
        net->dpleaf = ports;
        if (net->rail) {
            /* A rail leaf holds NIC k of `ports` consecutive nodes. */
            net->leaves_per_rail = (net->nodes + ports - 1) / ports;
            net->leaves = net->leaves_per_rail * net->dpn;
        } else {
            net->leaves = (net->n + ports - 1) / ports;
        }
        double over = p->oversubscription >= 1.0 ? p->oversubscription : 1.0;
        /* A leaf's uplinks are sized for its ports, populated or not. */
        net->leaf_bps = (double)ports * net->nic_bps / over;
    }
    /* One device per node and no super-node: no scale-up links at all. */
    bool has_scaleup = net->dpn > 1 || net->span > 1;
    uint32_t n = net->n, d = net->dpn, b = 0;
    net->base_mesh = b;
    if (has_scaleup && net->kind == NET_SCALEUP_FULL_MESH)
        b += net->nodes * d * (d - 1);
    net->base_sw = b;
    if (has_scaleup && net->kind == NET_SCALEUP_SWITCH)
        b += 2 * n;
    net->base_pcie = b;
    net->n_host = n / net->dpl;
    if (has_scaleup && net->kind == NET_SCALEUP_PCIE_HOST)
        b += 2 * net->n_host;
    net->base_nic = b;
    if (net->scaleout)
        b += 2 * n;
    net->base_leaf = b;
    if (net->scaleout && net->leaves > 1)
        b += 2 * net->leaves;
    net->n_links = b;

    net->link_bytes = calloc(b ? b : 1, sizeof *net->link_bytes);
    net->link_bps = malloc((b ? b : 1) * sizeof *net->link_bps);
    if (!net->link_bytes || !net->link_bps)
        goto nomem;
    for (uint32_t l = 0; l < b; l++)
        net->link_bps[l] = net_link_gbps(net, l) * 1e9;
    rc = maxmin_create(&net->mm, err);
    if (rc)
        goto fail;
    maxmin_set_window(net->mm, p->flow_window < 0.0    ? 0.0
                               : p->flow_window == 0.0 ? NET_FLOW_WINDOW_DEFAULT
                                                       : p->flow_window);
    *out = net;
    return 0;
nomem:
    rc = err_set(err, ERR_NOMEM, "net: out of memory for %u devices",
                 p->devices);
fail:
    net_destroy(net);
    return rc;
}

void net_destroy(net_t *net)
{
    if (!net)
        return;
    maxmin_destroy(net->mm);
    free(net->link_bps);
    free(net->link_bytes);
    free(net->flow_finish_s);
    free(net->flow_lat_s);
    free(net->flow_bytes);
    free(net->path_link);
    free(net->path_start);
    free(net->flow_pair);
    free(net);
}

/* ---- topology queries ---------------------------------------------------- */

uint32_t net_devices(const net_t *net) { return net->n; }
uint32_t net_nodes(const net_t *net) { return net->nodes; }
uint32_t net_links(const net_t *net) { return net->n_links; }

uint32_t net_node_of(const net_t *net, uint32_t device)
{
    MOESIM_ASSERT(device < net->n);
    return device / net->dpn;
}

static uint32_t leaf_of(const net_t *net, uint32_t dev)
{
    if (net->rail) {
        uint32_t node = dev / net->dpn, k = dev % net->dpn;
        return k * net->leaves_per_rail + node / net->dpleaf;
    }
    return dev / net->dpleaf;
}

double net_link_gbps(const net_t *net, uint32_t l)
{
    MOESIM_ASSERT(l < net->n_links);
    if (l < net->base_nic)
        return net->scaleup_bps / 1e9;
    if (l < net->base_leaf)
        return net->nic_bps / 1e9;
    return net->leaf_bps / 1e9;
}

void net_link_name(const net_t *net, uint32_t l, char *buf, size_t size)
{
    MOESIM_ASSERT(l < net->n_links);
    const uint32_t n = net->n, d = net->dpn;
    if (l < net->base_sw) {
        uint32_t r = l - net->base_mesh, per = d * (d - 1);
        uint32_t node = r / per, i = r % per / (d - 1), j = r % per % (d - 1);
        if (j >= i)
            j++;
        snprintf(buf, size, "%s %u->%u", net->label, node * d + i,
                 node * d + j);
    } else if (l < net->base_pcie) {
        uint32_t r = l - net->base_sw;
        snprintf(buf, size, "%s-%s %u", net->label, r < n ? "up" : "down",
                 r % n);
    } else if (l < net->base_nic) {
        uint32_t r = l - net->base_pcie;
        snprintf(buf, size, "%s-%s %u", net->label,
                 r < net->n_host ? "up" : "down", r % net->n_host);
    } else if (l < net->base_leaf) {
        uint32_t r = l - net->base_nic;
        snprintf(buf, size, "nic-%s %u", r < n ? "up" : "down", r % n);
    } else {
        uint32_t r = l - net->base_leaf;
        snprintf(buf, size, "leaf-%s %u", r < net->leaves ? "up" : "down",
                 r % net->leaves);
    }
}

uint32_t net_path(const net_t *net, uint32_t src, uint32_t dst,
                  uint32_t links[NET_PATH_MAX], double *latency_s)
{
    MOESIM_ASSERT(src < net->n && dst < net->n);
    const uint32_t d = net->dpn;
    uint32_t ns = src / d, nd = dst / d, k = 0;
    double lat = 0.0;
    if (src == dst) {
        /* local: nothing crosses the network */
    } else if (ns == nd && net->kind == NET_SCALEUP_FULL_MESH) {
        uint32_t i = src % d, j = dst % d;
        links[k++] = net->base_mesh + ns * d * (d - 1) + i * (d - 1) +
                     (j < i ? j : j - 1);
        lat = net->scaleup_lat_s;
    } else if (ns == nd && net->kind == NET_SCALEUP_PCIE_HOST) {
        links[k++] = net->base_pcie + src / net->dpl;
        links[k++] = net->base_pcie + net->n_host + dst / net->dpl;
        lat = net->scaleup_lat_s;
    } else if (net->kind == NET_SCALEUP_SWITCH &&
               ns / net->span == nd / net->span) {
        links[k++] = net->base_sw + src;
        links[k++] = net->base_sw + net->n + dst;
        lat = net->scaleup_lat_s;
    } else {
        uint32_t ls = leaf_of(net, src), ld = leaf_of(net, dst);
        links[k++] = net->base_nic + src;
        if (ls != ld) {
            links[k++] = net->base_leaf + ls;
            links[k++] = net->base_leaf + net->leaves + ld;
        }
        links[k++] = net->base_nic + net->n + dst;
        lat = net->scaleout_lat_s + (ls != ld ? 3.0 : 1.0) * net->hop_lat_s;
    }
    if (latency_s)
        *latency_s = lat;
    return k;
}

const double *net_link_bytes(const net_t *net) { return net->link_bytes; }

maxmin_stats_t net_flow_stats(const net_t *net)
{
    return maxmin_last_stats(net->mm);
}

/* ---- exchanges ----------------------------------------------------------- */

static bool grow_flows(net_t *net, size_t nf)
{
    if (nf <= net->cap_flows && net->flow_pair)
        return true;
    free(net->flow_pair);
    free(net->path_start);
    free(net->path_link);
    free(net->flow_bytes);
    free(net->flow_lat_s);
    free(net->flow_finish_s);
    net->flow_pair = malloc(nf * sizeof *net->flow_pair);
    net->path_start = malloc((nf + 1) * sizeof *net->path_start);
    net->path_link = malloc(nf * NET_PATH_MAX * sizeof *net->path_link);
    net->flow_bytes = malloc(nf * sizeof *net->flow_bytes);
    net->flow_lat_s = malloc(nf * sizeof *net->flow_lat_s);
    net->flow_finish_s = malloc(nf * sizeof *net->flow_finish_s);
    bool ok = net->flow_pair && net->path_start && net->path_link &&
              net->flow_bytes && net->flow_lat_s && net->flow_finish_s;
    /* 0 after a failure: the next call replaces every array again. */
    net->cap_flows = ok ? nf : 0;
    return ok;
}

/* Turns the matrix into flows with routes, link bytes and the byte
 * totals; fills out except the time and busiest-link fields. O(n^2). */
static int gather(net_t *net, const double *bytes, net_result_t *out,
                  err_t *err)
{
    const uint32_t n = net->n;
    memset(out, 0, sizeof *out);
    out->busiest_link = -1;
    size_t nf = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        double b = bytes[i];
        if (!(b >= 0.0) || !isfinite(b))
            return err_set(err, ERR_INPUT,
                           "net: traffic from device %zu to %zu is %g bytes; "
                           "must be a non-negative number",
                           i / n, i % n, b);
        if (b > 0.0 && i / n != i % n)
            nf++;
    }
    if (!grow_flows(net, nf ? nf : 1))
        return err_set(err, ERR_NOMEM, "net: out of memory for %zu flows",
                       nf);
    memset(net->link_bytes, 0, net->n_links * sizeof *net->link_bytes);
    uint32_t f = 0, e = 0;
    net->path_start[0] = 0;
    for (uint32_t s = 0; s < n; s++) {
        for (uint32_t d = 0; d < n; d++) {
            double b = bytes[(size_t)s * n + d];
            if (!(b > 0.0) || s == d)
                continue;
            uint32_t *pl = net->path_link + e;
            uint32_t k = net_path(net, s, d, pl, &net->flow_lat_s[f]);
            for (uint32_t j = 0; j < k; j++)
                net->link_bytes[pl[j]] += b;
            e += k;
            net->flow_pair[f] = s * n + d;
            net->flow_bytes[f] = b;
            net->path_start[++f] = e;
            if (s / net->dpn == d / net->dpn) {
                out->bytes_intra_node += b;
            } else {
                out->bytes_inter_node += b;
                if (pl[0] >= net->base_nic)
                    out->bytes_scaleout += b;
            }
            if (net->flow_lat_s[f - 1] > out->latency_s)
                out->latency_s = net->flow_lat_s[f - 1];
        }
    }
    out->flows = f;
    return 0;
}

/* The busiest link by busy time (bytes / bandwidth) into out's
 * busiest_link fields but the utilisation, which needs the exchange's
 * time; returns that busy time (0, and no link, without traffic). */
static double busiest(const net_t *net, net_result_t *out)
{
    double best = 0.0;
    for (uint32_t l = 0; l < net->n_links; l++) {
        double busy = net->link_bytes[l] / net->link_bps[l];
        if (busy > best) {
            best = busy;
            out->busiest_link = (int32_t)l;
        }
    }
    if (out->busiest_link < 0)
        return 0.0;
    uint32_t l = (uint32_t)out->busiest_link;
    net_link_name(net, l, out->busiest_link_name,
                  sizeof out->busiest_link_name);
    out->busiest_link_bytes = net->link_bytes[l];
    return best;
}

static double util_of(double busy_s, double time_s)
{
    return time_s > 0.0 ? busy_s / time_s : 0.0;
}

int net_exchange_analytic(net_t *net, const double *bytes, net_result_t *out,
                          err_t *err)
{
    int rc = gather(net, bytes, out, err);
    if (rc)
        return rc;
    double busy = busiest(net, out);
    out->time_s = out->flows ? busy + out->latency_s : 0.0;
    out->busiest_link_util = util_of(busy, out->time_s);
    return 0;
}

int net_exchange_flow(net_t *net, const double *bytes, net_result_t *out,
                      double *finish_s, err_t *err)
{
    int rc = gather(net, bytes, out, err);
    if (rc)
        return rc;
    const uint32_t n = net->n;
    if (finish_s)
        memset(finish_s, 0, (size_t)n * n * sizeof *finish_s);
    if (out->flows > 0) {
        maxmin_problem_t p = {.n_links = net->n_links,
                              .capacity_bps = net->link_bps,
                              .n_flows = out->flows,
                              .path_start = net->path_start,
                              .path_link = net->path_link,
                              .bytes = net->flow_bytes};
        double makespan_s;
        rc = maxmin_run(net->mm, &p, net->flow_finish_s, &makespan_s, err);
        if (rc) {
            err_prefix(err, "net");
            return rc;
        }
        double t = 0.0;
        for (uint32_t f = 0; f < out->flows; f++) {
            double end = net->flow_finish_s[f] + net->flow_lat_s[f];
            if (end > t)
                t = end;
            if (finish_s)
                finish_s[net->flow_pair[f]] = end;
        }
        out->time_s = t;
    }
    out->busiest_link_util = util_of(busiest(net, out), out->time_s);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

int net_dispatch_matrix(const net_t *net, uint32_t tokens,
                        const uint32_t *token_src, const uint32_t *dst_start,
                        const uint32_t *dst_dev, double bytes_per_token,
                        net_dispatch_mode_t mode, double *bytes, err_t *err)
{
    const uint32_t n = net->n, dpn = net->dpn;
    if (!(bytes_per_token >= 0.0) || !isfinite(bytes_per_token))
        return err_set(err, ERR_INPUT,
                       "net: bytes_per_token = %g must be >= 0",
                       bytes_per_token);
    memset(bytes, 0, (size_t)n * n * sizeof *bytes);
    /* Stamps (token index + 1) mark the devices and nodes a token already
     * reached, so repeated destinations count once; O(n) scratch, O(total
     * destinations) time. */
    uint32_t *dev_seen = calloc(n, sizeof *dev_seen);
    uint32_t *node_seen = calloc(net->nodes, sizeof *node_seen);
    int rc = 0;
    if (!dev_seen || !node_seen) {
        rc = err_set(err, ERR_NOMEM, "net: out of memory for dispatch");
        goto done;
    }
    for (uint32_t t = 0; t < tokens; t++) {
        uint32_t src = token_src[t], stamp = t + 1;
        if (src >= n) {
            rc = err_set(err, ERR_INPUT,
                         "net: token %u comes from device %u of %u", t, src,
                         n);
            goto done;
        }
        uint32_t src_node = src / dpn, src_k = src % dpn;
        for (uint32_t j = dst_start[t]; j < dst_start[t + 1]; j++) {
            uint32_t dst = dst_dev[j];
            if (dst >= n) {
                rc = err_set(err, ERR_INPUT,
                             "net: token %u goes to device %u of %u", t,
                             dst, n);
                goto done;
            }
            if (dev_seen[dst] == stamp)
                continue;
            dev_seen[dst] = stamp;
            uint32_t dst_node = dst / dpn;
            if (mode == NET_DISPATCH_DIRECT || dst_node == src_node) {
                if (dst != src)
                    bytes[(size_t)src * n + dst] += bytes_per_token;
                continue;
            }
            uint32_t relay = dst_node * dpn + src_k;
            if (node_seen[dst_node] != stamp) {
                node_seen[dst_node] = stamp;
                bytes[(size_t)src * n + relay] += bytes_per_token;
            }
            if (dst != relay)
                bytes[(size_t)relay * n + dst] += bytes_per_token;
        }
    }
done:
    free(node_seen);
    free(dev_seen);
    return rc;
}
